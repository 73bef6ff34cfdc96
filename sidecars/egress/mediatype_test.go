package egress

import (
	"mime"
	"net/http"
	"strings"
	"testing"
)

// FuzzMediaType: mediaType reads a Content-Type as mime.ParseMediaType
// does where it parses, and as its first token where it does not.
func FuzzMediaType(f *testing.F) {
	for _, v := range []string{"text/plain; charset=utf-8", "TEXT/HTML", " text/html ", "text/html,application/json",
		`text/html; a="x,y"`, "text/html; a=b, text/plain", "text / plain", "", ";", ",", "text/event-stream; x",
		"application/json;charset=utf-8", "text/html\t;q=1", "a/b c", "application/ld+json"} {
		f.Add(v, "")
		f.Add(v, "text/plain")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		h := http.Header{"Content-Type": {a}}
		if b != "" {
			h.Add("Content-Type", b)
		}
		v := strings.ToLower(strings.Join(h.Values("Content-Type"), ","))
		want := ""
		switch mt, _, err := mime.ParseMediaType(v); {
		case strings.Contains(v, "text/event-stream"):
			want = "text/event-stream"
		case err == nil:
			want = mt
		default:
			first, _, _ := strings.Cut(v, ",")
			first, _, _ = strings.Cut(first, ";")
			want = strings.TrimSpace(first)
		}
		if got := mediaType(h); got != want {
			t.Errorf("mediaType(%q) = %q, the parse reads %q", v, got, want)
		}
	})
}
