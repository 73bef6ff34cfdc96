package inpod

import (
	"context"
	"testing"
	"time"
)

// A proof that tries nothing proves nothing: the engine drops a target it
// cannot name (a server it cannot parse, a Service it may not read), and
// the go-ahead must not follow a proof of no target at all.
func TestProveIsolationOfNothingFails(t *testing.T) {
	if err := ProveIsolation(context.Background(), nil, 100*time.Millisecond); err == nil {
		t.Error("a proof with no target passed: the agent would start with nothing shown out of its reach")
	}
}
