package egress

import (
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
