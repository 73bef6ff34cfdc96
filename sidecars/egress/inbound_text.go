package egress

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"
)

// A response is read for instructions as the agent's client reads it,
// whatever its headers claim: text labelled as something else (an
// octet-stream, an image, no type at all) is still text a client prints,
// and text in the charset it declares (UTF-16, a byte order mark's) reads
// as words only once decoded.

// sniffLen is how much of a response's first bytes say what it is.
const sniffLen = 512

// sniffedText reports whether a response whose type names no text is text
// all the same, and the type it is read as: what its first read holds
// sniffs as text, or as binary of no known format with few control bytes
// (a byte or two put first so that it passes for binary). The bytes read
// are put back in front of the rest.
func sniffedText(resp *http.Response) (string, bool) {
	head := make([]byte, sniffLen)
	n, err := 0, error(nil)
	for n == 0 && err == nil {
		n, err = resp.Body.Read(head)
	}
	head = head[:n]
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if n == 0 {
		return "", false
	}
	switch t := http.DetectContentType(head); {
	case strings.HasPrefix(t, "text/html"):
		return "text/html", true
	case strings.HasPrefix(t, "text/"):
		return "text/plain", true
	case t == "application/octet-stream":
		ctrl := 0
		for _, c := range head {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b {
				ctrl++
			}
		}
		return "text/plain", ctrl*10 < len(head)
	}
	return "", false
}

// textEncoding is the encoding a response's text is decoded from to be
// read, or nil when it reads as it is (UTF-8, or ASCII in a charset that
// agrees with it): a byte order mark's, else the Content-Type's charset,
// else a page's meta charset; text that is not UTF-8 and declares nothing
// is read as windows-1252, as browsers read it.
func textEncoding(contentType string, body []byte) encoding.Encoding {
	if len(body) == 0 || len(body) >= 3 && body[0] == 0xef && body[1] == 0xbb && body[2] == 0xbf {
		return nil
	}
	ctl := strings.ToLower(contentType)
	if strings.Contains(ctl, "charset=utf-8") && body[0] != 0xfe && body[0] != 0xff {
		return nil // (most text says so)
	}
	declared := body[0] == 0xfe || body[0] == 0xff || strings.Contains(ctl, "charset=") ||
		bytes.Contains(body[:min(len(body), 1024)], []byte("charset"))
	if !declared && utf8.Valid(body[:min(len(body), 1024)]) {
		return nil // no charset said: read as UTF-8, which the scan reads
	}
	e, name, _ := charset.DetermineEncoding(body, contentType)
	switch {
	case e == nil, name == "utf-8":
		return nil
	case name == "windows-1252" && ascii(body):
		return nil
	}
	return e
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// asUTF8 is a content type with its charset UTF-8, for a body decoded
// into it.
func asUTF8(ct string) string {
	return mime.FormatMediaType(ct, map[string]string{"charset": "utf-8"})
}

// chunkDecoder decodes a stream's text chunk by chunk, keeping a
// character cut between two reads for the next.
type chunkDecoder struct {
	enc  encoding.Encoding
	t    transform.Transformer
	pend []byte
}

func newChunkDecoder(e encoding.Encoding) *chunkDecoder {
	if e == nil {
		return nil
	}
	return &chunkDecoder{enc: e, t: e.NewDecoder()}
}

// text is what chunk decodes to, after what was left of the last.
func (d *chunkDecoder) text(chunk []byte, atEOF bool) []byte {
	src := append(d.pend, chunk...)
	out := make([]byte, 3*len(src)+16) // a byte of a one-byte charset is three of UTF-8 at most
	n, used, _ := d.t.Transform(out, src, atEOF)
	d.pend = append(d.pend[:0:0], src[used:]...)
	return out[:n]
}

// encode is text (ASCII: a warning, an explanation) in the stream's
// charset, so that its client reads it.
func (d *chunkDecoder) encode(text []byte) []byte {
	if d == nil {
		return text
	}
	if b, err := d.enc.NewEncoder().Bytes(text); err == nil {
		return b
	}
	return text
}
