package egress

import (
	"testing"

	"github.com/bottle-sandbox/bottle/internal/corpus"
	"github.com/bottle-sandbox/bottle/internal/dlp"
)

// TestSplitMessagesWithOthersBetween: a key sent in two WebSocket
// messages (the split watch sees their ends, with no place named), chatter
// between them, is found when its second half comes (issue 20).
func TestSplitMessagesWithOthersBetween(t *testing.T) {
	gh := corpus.Fakes("")["GitHub"]
	s := dlp.New(nil).Untrusted()
	var w splitWatch
	for i, msg := range []string{gh[:20], `{"type":"ping","id":7}`, "how are you today?", `{"type":"ack","id":8}`} {
		if f := w.checkPlaced(s, "ws.example.test", messageFragments([]byte(msg))); f != nil {
			t.Fatalf("message %d: %+v", i+1, f)
		}
	}
	if f := w.checkPlaced(s, "ws.example.test", messageFragments([]byte(gh[20:]))); f == nil || f.Rule != "github-token" {
		t.Errorf("the second half: %+v, want github-token", f)
	}
}
