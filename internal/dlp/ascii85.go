package dlp

import (
	"bytes"
	"encoding/ascii85"
)

// Ascii85 writes four bytes as five characters from '!' to 'u', so a key
// so encoded is no run of token characters but a stretch of them and
// signs. Its framings say where it is: Adobe's <~ ... ~> (PostScript, PDF,
// Python's a85encode(adobe=True)), and the btoa tool's "xbtoa Begin" ...
// "xbtoa End" lines. What lies between is decoded (spaces and line breaks
// dropped, as the format says, and the escapes of a JSON string undone).
// A PDF's ASCII85Decode streams end with ~> and have no <~: what comes
// before a ~> that no <~ opened is decoded too, at each of the five
// alignments its start may have (it follows the stream's dictionary,
// whose characters are Ascii85's too). Unframed base 85 (Python's
// a85encode and b85encode, Z85) is left out: in code and JSON it cannot be
// told from identifiers and calls cheaply.

var adobeBegin, adobeEnd, btoaBegin = []byte("<~"), []byte("~>"), []byte("xbtoa Begin")

// scanAscii85 scans what each <~ ... ~> in data decodes to, and what comes
// before each ~> alone.
func (s *Scanner) scanAscii85(data []byte, pl place, enc string, depth int) *Finding {
	if bytes.IndexByte(data, '~') < 0 {
		return nil
	}
	for at := 0; ; {
		i := bytes.Index(data[at:], adobeBegin)
		if i < 0 {
			break
		}
		at += i + len(adobeBegin)
		if f := s.scanDecoded85(data[at:], pl, enc, depth); f != nil {
			return f
		}
	}
	for at := 0; ; {
		i := bytes.Index(data[at:], adobeEnd)
		if i < 0 {
			return nil
		}
		end := at + i
		at = end + len(adobeEnd)
		start := end
		for start > 0 && ascii85Byte(data[start-1]) {
			start--
		}
		if end-start < minSecret || bytes.HasSuffix(data[:start], adobeBegin) {
			continue // too short, or framed: read above
		}
		for off := 0; off < 5 && start < end; off++ {
			if f := s.scanDecoded85(data[start:end], pl, enc, depth); f != nil {
				return f
			}
			start = next85(data, start, end)
		}
	}
}

// ascii85Byte reports whether c may be in Ascii85 text (spaces and line
// breaks, which it ignores, too).
func ascii85Byte(c byte) bool {
	return '!' <= c && c <= 'u' || c == 'z' || c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

// next85 is where the Ascii85 text from start goes on one character on.
func next85(data []byte, start, end int) int {
	start++
	for start < end && (data[start] == ' ' || data[start] == '\n' || data[start] == '\r' || data[start] == '\t') {
		start++
	}
	return start
}

// btoaFile scans what the lines after "xbtoa Begin" (the run at start is
// its xbtoa) decode to.
func (s *Scanner) btoaFile(data []byte, start int, pl place, enc string, depth int) *Finding {
	if !bytes.HasPrefix(data[start:], btoaBegin) {
		return nil
	}
	return s.scanDecoded85(data[start+len(btoaBegin):], pl, enc, depth)
}

// scanDecoded85 scans what the Ascii85 text that data starts with decodes
// to, as far as it goes.
func (s *Scanner) scanDecoded85(data []byte, pl place, enc string, depth int) *Finding {
	text := ascii85Text(data)
	out := make([]byte, len(text))
	n, _, _ := ascii85.Decode(out, text, true)
	if n < minSecret {
		return nil
	}
	return s.scan(out[:n], pl, join(enc, "ascii85"), depth+1)
}

// ascii85Text is the Ascii85 text that data starts with, up to the first
// byte that is none of it: without what Ascii85 ignores (spaces, line
// breaks, also as a JSON string writes them: \n, \r, \t), the escapes a
// JSON string puts in it undone (\" \\ \/), btoa's y (four spaces)
// written out.
func ascii85Text(data []byte) []byte {
	var out []byte
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == ' ' || c == '\n' || c == '\r' || c == '\t':
			continue
		case c == '\\' && i+1 < len(data):
			switch n := data[i+1]; n {
			case '"', '\\', '/':
				out, i = append(out, n), i+1
				continue
			case 'n', 'r', 't':
				i++
				continue
			}
		case c == 'y':
			out = append(out, "+<VdL"...)
			continue
		}
		if c < '!' || c > 'u' && c != 'z' {
			break
		}
		out = append(out, c)
	}
	return out
}
