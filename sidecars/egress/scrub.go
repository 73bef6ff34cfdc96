package egress

import (
	"bytes"
	"io"
	"net/http"

	"github.com/bottle-sandbox/bottle/internal/dlp"
)

// scrubber replaces one secret, in every form the DLP knows it by, with the
// placeholder in what an upstream sends back: an upstream that echoes the
// request (an echo service, an error page quoting headers) would otherwise
// hand the agent the key it must never hold.
type scrubber struct {
	forms [][]byte
	keep  int // the longest form, less one: what may be an unfinished match
}

var placeholder = []byte(Placeholder)

func newScrubber(secret string) *scrubber {
	s := &scrubber{forms: dlp.Forms(secret)}
	for _, f := range s.forms {
		s.keep = max(s.keep, len(f)-1)
	}
	return s
}

// response scrubs the headers at once and the body as it streams; the body
// loses its length, since a replacement changes it.
func (s *scrubber) response(resp *http.Response) {
	for k, vs := range resp.Header {
		for i, v := range vs {
			resp.Header[k][i] = string(s.replace([]byte(v)))
		}
	}
	for k, vs := range resp.Trailer {
		for i, v := range vs {
			resp.Trailer[k][i] = string(s.replace([]byte(v)))
		}
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		return
	}
	setStream(resp, &scrubReader{src: resp.Body, s: s})
}

// replace replaces every whole form in b.
func (s *scrubber) replace(b []byte) []byte {
	for _, f := range s.forms {
		if bytes.Contains(b, f) {
			b = bytes.ReplaceAll(b, f, placeholder)
		}
	}
	return b
}

// pending is how many bytes at the end of b may be the start of a form,
// and so must wait for more data before they are passed on.
func (s *scrubber) pending(b []byte) int {
	for n := min(s.keep, len(b)); n > 0; n-- {
		tail := b[len(b)-n:]
		for _, f := range s.forms {
			if bytes.HasPrefix(f, tail) {
				return n
			}
		}
	}
	return 0
}

// scrubReader passes a body on as it arrives (server-sent events keep
// flowing), holding back only a tail that may be the start of a form.
type scrubReader struct {
	src  io.ReadCloser
	s    *scrubber
	buf  []byte // read, not yet passed on
	out  []byte // scrubbed, to pass on
	done error
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
