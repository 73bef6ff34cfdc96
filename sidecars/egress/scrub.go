package egress

import (
	"bytes"
	"html"
	"io"
	"net/http"
	"slices"

	"github.com/bottle-sandbox/bottle/internal/dlp"
)

// scrubber replaces one secret, in every form the DLP knows it by, with the
// placeholder in what an upstream sends back: an upstream that echoes the
// request (an echo service, an error page quoting headers) would otherwise
// hand the agent the key it must never hold.
type scrubber struct {
	forms  [][]byte
	keep   int        // the longest form escaped whole, less one: what may be an unfinished match
	starts [256]bool  // the bytes a form's spelling may start with
	first  [256][]int // the forms that start with each character
	// anchors are each form's longest stretch of letters and digits, which
	// no encoder escapes: a body without one holds no spelling of a form.
	anchors [][]byte
}

var placeholder = []byte(Placeholder)

func newScrubber(secret string) *scrubber {
	s := &scrubber{forms: dlp.Forms(secret)}
	for _, f := range s.forms {
		s.keep = max(s.keep, len(f)*maxEscape-1)
	}
	for k, f := range s.forms {
		s.anchors = append(s.anchors, longestAlnum(f))
		s.starts[f[0]] = true
		s.first[f[0]] = append(s.first[f[0]], k)
	}
	s.starts['\\'], s.starts['&'], s.starts['%'] = true, true, true
	return s
}

// response scrubs the headers at once and the body as it streams; the body
// loses its length, since a replacement changes it.
func (s *scrubber) response(resp *http.Response) {
	s.headers(resp)
	if resp.Body == nil || resp.Body == http.NoBody {
		return
	}
	setStream(resp, &scrubReader{src: resp.Body, s: s, trailer: resp.Trailer})
}

// headers scrubs a response's headers and the trailers it has so far
// (those after a body are scrubbed when it ends: scrubReader).
func (s *scrubber) headers(resp *http.Response) {
	s.header(resp.Header)
	s.header(resp.Trailer)
}

func (s *scrubber) header(h http.Header) {
	for k, vs := range h {
		for i, v := range vs {
			h[k][i] = string(s.replace([]byte(v)))
		}
	}
}

// replace replaces every whole form in b, also where the upstream wrote
// some of its characters escaped as the text it echoes into needs them
// (JSON's \/ and \u002f, HTML's &#43; and &sol;, %2F; see spelledAt): a
// secret with the '/' and '+' of base64 comes back that way from many
// servers.
func (s *scrubber) replace(b []byte) []byte {
	if !slices.ContainsFunc(s.anchors, func(a []byte) bool { return bytes.Contains(b, a) }) {
		return b
	}
	var out []byte
	done := 0
	for i := 0; i < len(b); i++ {
		if !s.starts[b[i]] {
			continue
		}
		if end := s.spelledFrom(b, i, spelled); end > 0 {
			out = append(append(out, b[done:i]...), placeholder...)
			done, i = end, end-1
		}
	}
	if out == nil {
		return b
	}
	return append(out, b[done:]...)
}

// spelledFrom looks for a form spelled at b[i:] with the outcome want
// (spelled, or unfinished): where it ends, 0 when there is none. Only the
// forms that start with the character at i, as itself or escaped, are
// tried.
func (s *scrubber) spelledFrom(b []byte, i, want int) int {
	c := b[i]
	if !s.starts[c] {
		return 0
	}
	forms := s.first[c]
	if c == '\\' || c == '&' || c == '%' {
		if n, e := escapeAt(b[i:]); n > 0 {
			forms = append(forms[:len(forms):len(forms)], s.first[e]...)
		} else if n < 0 && want == unfinished {
			return len(b)
		}
	}
	for _, k := range forms {
		if end, st := spelledAt(b, i, s.forms[k]); st == want {
			return end
		}
	}
	return 0
}

// pending is how many bytes at the end of b may be the start of a form,
// and so must wait for more data before they are passed on.
func (s *scrubber) pending(b []byte) int {
	for i := max(len(b)-s.keep, 0); i < len(b); i++ {
		if s.spelledFrom(b, i, unfinished) > 0 {
			return len(b) - i
		}
	}
	return 0
}

const (
	notSpelled = iota
	spelled
	unfinished // b ends before the form does
)

// maxEscape is the longest spelling of one character spelledAt reads
// (&#x0000002F;).
const maxEscape = 12

// spelledAt reports whether f is spelled at b[i:], each of its characters
// as itself or escaped (\/, \uXXXX, \xHH, &#NN;, &#xHH;, a named HTML
// reference, %HH), and where the spelling ends.
func spelledAt(b []byte, i int, f []byte) (int, int) {
	for _, c := range f {
		if i >= len(b) {
			return i, unfinished
		}
		if b[i] == c {
			i++
			continue
		}
		n, ch := escapeAt(b[i:])
		if n < 0 {
			return i, unfinished
		}
		if n == 0 || ch != c {
			return i, notSpelled
		}
		i += n
	}
	return i, spelled
}

// escapeAt reads one escaped character at the start of b: its length and
// the character; 0 when there is none, -1 when b ends inside one.
func escapeAt(b []byte) (int, byte) {
	hexed := func(at int) (int, byte) { // two hex digits at b[at:]
		if len(b) < at+2 {
			return -1, 0
		}
		hi, ok1 := hexDigit(b[at])
		lo, ok2 := hexDigit(b[at+1])
		if !ok1 || !ok2 {
			return 0, 0
		}
		return at + 2, hi<<4 | lo
	}
	switch {
	case len(b) < 2:
		if b[0] == '\\' || b[0] == '&' || b[0] == '%' {
			return -1, 0
		}
	case b[0] == '\\' && b[1] == 'u':
		if len(b) >= 6 && (b[2] != '0' || b[3] != '0') {
			return 0, 0
		}
		return hexed(4)
	case b[0] == '\\' && b[1] == 'x':
		return hexed(2)
	case b[0] == '\\' && bytes.IndexByte([]byte(`/\\"'`), b[1]) >= 0:
		return 2, b[1] // \/ and the like
	case b[0] == '%':
		return hexed(1)
	case b[0] == '&':
		semi := bytes.IndexByte(b[:min(len(b), maxEscape)], ';')
		if semi < 0 {
			if len(b) < maxEscape {
				return -1, 0
			}
			return 0, 0
		}
		if u := html.UnescapeString(string(b[:semi+1])); len(u) == 1 {
			return semi + 1, u[0]
		}
	}
	return 0, 0
}

// scrubReader passes a body on as it arrives (server-sent events keep
// flowing), holding back only a tail that may be the start of a form.
type scrubReader struct {
	src io.ReadCloser
	s   *scrubber
	// trailer is the response's: its values, which come after the body,
	// are scrubbed when the body ends, before anyone passes them on.
	trailer http.Header
	buf     []byte // read, not yet passed on
	out     []byte // scrubbed, to pass on
	done    error
}

func (r *scrubReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.done != nil {
			if len(r.buf) == 0 {
				return 0, r.done
			}
			r.out, r.buf = r.s.replace(r.buf), nil
			break
		}
		chunk := make([]byte, 32<<10)
		n, err := r.src.Read(chunk)
		r.buf = append(r.buf, chunk[:n]...)
		if err != nil {
			r.done = err
			r.s.header(r.trailer)
			continue
		}
		scrubbed := r.s.replace(r.buf)
		hold := r.s.pending(scrubbed)
		r.out = scrubbed[:len(scrubbed)-hold]
		r.buf = append([]byte(nil), scrubbed[len(scrubbed)-hold:]...)
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

func (r *scrubReader) Close() error { return r.src.Close() }

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// longestAlnum is the longest stretch of letters and digits in f.
func longestAlnum(f []byte) []byte {
	var best []byte
	for i := 0; i < len(f); {
		j := i
		for j < len(f) && ('0' <= f[j] && f[j] <= '9' || 'a' <= f[j] && f[j] <= 'z' || 'A' <= f[j] && f[j] <= 'Z') {
			j++
		}
		if j-i > len(best) {
			best = f[i:j]
		}
		i = j + 1
	}
	return best
}
