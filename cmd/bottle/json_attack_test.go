package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
)

// What the agent wrote reaches the person's terminal escaped, JSON too:
// encoding/json escapes C0 controls but passes C1 controls (U+009D is
// OSC to a terminal that takes 8-bit controls in UTF-8, as xterm does:
// OSC 52 writes the clipboard) and the bidi overrides, which reorder what
// the person reads. bottle inspect --json and bottle requests --json print
// an agent's request as it wrote it; bottle logs already escapes its JSON
// lines (termtext.Writer's Escape), and so must they, the value read back
// being the same.
func TestJSONOutputEscapesWhatATerminalActsOn(t *testing.T) {
	// And what shows as nothing (a zero-width space, a Hangul filler, tag
	// characters beyond the BMP spelling text no one sees): escaped, it
	// can be read; a JSON escape of one beyond the BMP is a surrogate pair.
	reason := "fine\u009d52;c;aGk=\u009c \u202edetaeler\u202c \u2067x\u2069 pypi\u200b.org \u3164 \U000E0069\U000E0067\U000E006E"
	req := &supervise.Request{ID: "r0123456789abcdef", Kind: supervise.KindEgress, Reason: reason, Host: "api.example.test\u202e"}
	for name, print := range map[string]func(*bytes.Buffer) error{
		"inspect --json": func(b *bytes.Buffer) error {
			return printIndented(b, &lifecycle.Inspection{Pending: []*supervise.Request{req}})
		},
		"requests --json": func(b *bytes.Buffer) error { return printJSON(b, []bottleRequest{{Identity: "t-abcde", Request: req}}) },
	} {
		var out bytes.Buffer
		if err := print(&out); err != nil {
			t.Fatal(err)
		}
		for _, r := range out.String() {
			if termtext.Unsafe(r, true) || termtext.Hidden(r) {
				t.Errorf("%s prints %U as it is: %q", name, r, out.String())
				break
			}
		}
		if !strings.Contains(out.String(), `\u202e`) || !strings.Contains(out.String(), `\u200b`) || !strings.Contains(out.String(), `\udb40\udc69`) {
			t.Errorf("%s does not say what was there: %s", name, &out)
		}
		var back any
		if err := json.Unmarshal(out.Bytes(), &back); err != nil || !strings.Contains(fmtJSON(back), reason) {
			t.Errorf("%s is not the same JSON once escaped: %v\n%s", name, err, &out)
		}
	}
}

func fmtJSON(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			b.WriteString(v + "\n")
		}
	}
	walk(v)
	return b.String()
}
