package egress

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/dlp"
)

// sideBySide scans the values a request carries side by side, in the
// order they were sent: a key cut into the values of many cookies, or of
// many query parameters each with its own name, is whole there. (Across
// requests the split watch joins them.)
func sideBySide(s *dlp.Scanner, r *http.Request) *dlp.Finding {
	if cs := r.Header["Cookie"]; len(cs) > 1 || len(cs) == 1 && strings.IndexByte(cs[0], ';') >= 0 {
		if f := s.ScanPieces(cookieValues(cs), "header cookie"); f != nil {
			return f
		}
	}
	if strings.IndexByte(r.URL.RawQuery, '&') >= 0 {
		if f := s.ScanPieces(queryValues(r.URL.RawQuery), "url"); f != nil {
			return f
		}
	}
	return nil
}

// cookieValues are the values of a request's cookies, in order.
func cookieValues(cookies []string) [][]byte {
	var out [][]byte
	for _, v := range cookies {
		for _, c := range strings.Split(v, ";") {
			if _, cv, ok := strings.Cut(strings.TrimSpace(c), "="); ok && cv != "" {
				out = append(out, []byte(cv))
			}
		}
	}
	return out
}

// queryValues are a query's values, in order, unescaped.
func queryValues(raw string) [][]byte {
	var out [][]byte
	for _, kv := range strings.Split(raw, "&") {
		if _, v, ok := strings.Cut(kv, "="); ok && v != "" {
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
			out = append(out, []byte(v))
		}
	}
	return out
}

// messageFragments are a WebSocket message's pieces for the split watch:
// its start and end (a short one whole, once: the same piece twice would
// be put in its place's run twice), and the string values of a small JSON
// message, each in the place of the member that holds it.
func messageFragments(msg []byte) []fragment {
	out := []fragment{{"message", msg}}
	if len(msg) > 2*fragmentSize {
		out = []fragment{{"message", msg[:fragmentSize]}, {"message", msg[len(msg)-fragmentSize:]}}
	}
	return jsonValues(out, "message", msg)
}

// maxJSONPieces bounds the JSON whose values are pieces for the split
// watch: an API call's or a message's, not an upload.
const maxJSONPieces = 4096

// jsonValues appends the string values of small JSON data to out, each in
// a place named for the member that holds it (an array's items in their
// member's place, in order): a key sent a few characters a request as
// {"seq":3,"d":"Z7RM"} is then in one place's run, as a query's would be.
// It reads strings as JSON writes them, and leaves escapes as they are.
func jsonValues(out []fragment, place string, data []byte) []fragment {
	d := bytes.TrimSpace(data)
	if len(d) == 0 || len(d) > maxJSONPieces || d[0] != '{' && d[0] != '[' {
		return out
	}
	name, n := "", 0
	for i := 0; i < len(d) && n < maxJSONValues; i++ {
		if d[i] != '"' {
			continue
		}
		j := i + 1
		for j < len(d) && d[j] != '"' {
			if d[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(d) {
			break
		}
		str := d[i+1 : j]
		k := j + 1
		for k < len(d) && (d[k] == ' ' || d[k] == '\t' || d[k] == '\n' || d[k] == '\r') {
			k++
		}
		if k < len(d) && d[k] == ':' {
			name = string(str)
		} else if len(str) > 0 {
			out, n = append(out, fragment{place + " " + name, str}), n+1
		}
		i = j
	}
	return out
}

// maxJSONValues bounds the values taken from one piece of JSON.
const maxJSONValues = 64
