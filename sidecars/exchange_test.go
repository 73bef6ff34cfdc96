package sidecars

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bottle-sandbox/bottle/state"
)

// An engine that keeps a bottle's folder apart sends it the routes and the
// requests the person decided, never a pending one (the pod's supervise
// server owns those until an answer).
func TestExchangeHoldsBackUndecidedRequests(t *testing.T) {
	b := &state.Bottle{ID: "t-abcde", Dir: t.TempDir()}
	reqs := filepath.Join(b.SuperviseDir(), "requests")
	os.MkdirAll(reqs, 0o700)
	os.WriteFile(filepath.Join(reqs, "a.json"), []byte(`{"id":"a","status":"pending"}`), 0o600)
	os.WriteFile(filepath.Join(reqs, "b.json"), []byte(`{"id":"b","status":"approved"}`), 0o600)
	os.WriteFile(filepath.Join(reqs, "c.json"), []byte(`not json`), 0o600)
	x := Exchange(b)
	for name, want := range map[string]bool{
		"supervise/requests/a.json": false,
		"supervise/requests/b.json": true,
		"supervise/requests/c.json": false,
		"egress/policy/routes.json": true,
	} {
		if got := !x.Hold(name); got != want {
			t.Errorf("sent %s: %v, want %v", name, got, want)
		}
	}
	if len(x.In) != 1 || x.In[0] != "supervise/requests" || len(x.Out) != 3 {
		t.Errorf("the exchange: in %v, out %v", x.In, x.Out)
	}
}
