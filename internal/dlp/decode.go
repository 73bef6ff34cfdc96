package dlp

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
)

// scanDecoded scans what a run decoded to, first for the shape of a
// private key (DER, or OpenSSH's format) that no text rule would see.
func (s *Scanner) scanDecoded(d decoded, pl place, enc string, depth int) *Finding {
	if !s.off["private-key"] && privateKeyBytes(d.data) {
		return &Finding{Rule: "private-key", Where: pl.where, Encoding: join(enc, d.name)}
	}
	return s.scan(d.data, pl, join(enc, d.name), depth+1)
}

// valueOf is the value of a run that is name=value (base64 padding aside).
func valueOf(run []byte) []byte {
	if i := bytes.LastIndexByte(bytes.TrimRight(run, "="), '='); i >= 0 {
		return run[i+1:]
	}
	return run
}

type decoded struct {
	name string
	data []byte
}

// decodings returns what the run at [start, end) decodes to, when it
// looks encoded: the value of name=value, hex (also a stretch of hex in a
// longer run, and out of step by one), base32, base64 (also what decodes
// before a character that breaks it; and, amid binary bytes, out of step);
// with more, the encodings of bases.go too.
func decodings(data []byte, start, end int, binary, more bool) []decoded {
	run := valueOf(data[start:end])
	binary = binary || start > 0 && controlByte(data[start-1]) || end < len(data) && controlByte(data[end])
	var out []decoded
	addHex := func(h []byte, aligned bool) {
		for k := 0; k < 2; k++ {
			if k == 1 && aligned && len(h)%2 == 0 {
				break
			}
			if d, err := hex.DecodeString(string(h[k : k+(len(h)-k)&^1])); err == nil {
				out = append(out, decoded{"hex", d})
			}
		}
	}
	if len(run) >= 8*minLongRun {
		if d := fromBits(run); d != nil {
			return append(out, decoded{"binary", d}) // binary digits are hex too, and base64
		}
	}
	if len(run) >= 32 && allHex(run) {
		addHex(run, !binary)
		if more && allDigits(run) {
			out = moreDecodings(run, out) // a big decimal integer
		}
		return out // hex is also valid base64: decoding it twice finds nothing new
	}
	for i := 0; len(run) >= 32 && i < len(run); {
		for i < len(run) && !isHex(run[i]) {
			i++
		}
		j := i
		for j < len(run) && isHex(run[j]) {
			j++
		}
		if j-i >= 32 {
			addHex(run[i:j], false)
		}
		i = j
	}
	if len(run) >= 24 && allBase32(run) {
		if d, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(bytes.TrimRight(run, "="))); err == nil {
			out = append(out, decoded{"base32", d})
		}
	}
	if len(run) >= 20 && looksBase64(run) {
		trimmed := bytes.TrimRight(run, "=")
		shifts := 1
		if binary {
			shifts = 4
		}
		for k := range shifts {
			if d := decodeBase64(trimmed[k:]); d != nil {
				out = append(out, decoded{"base64", d})
			}
		}
	}
	if !more {
		return out
	}
	return moreDecodings(run, out)
}

// decodeBase64 decodes b in either alphabet; where a character breaks it,
// what came before.
func decodeBase64(b []byte) []byte {
	if len(b)%4 == 1 { // no base64 has this length: drop the stray last character
		b = b[:len(b)-1]
	}
	for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if d, err := e.DecodeString(string(b)); err == nil {
			return d
		}
	}
	_, err := base64.RawStdEncoding.DecodeString(string(b))
	var at base64.CorruptInputError
	if errors.As(err, &at) && at >= 20 {
		d, _ := base64.RawStdEncoding.DecodeString(string(b[:int(at)&^3]))
		return d
	}
	return nil
}

// binaryLooking reports whether data looks like binary, not text: control
// characters among its first bytes. There encoded text has neighbours that
// are token characters by chance, and is out of step with the run.
func binaryLooking(data []byte) bool {
	n := 0
	head := data[:min(len(data), 1024)]
	for _, c := range head {
		if controlByte(c) {
			n++
		}
	}
	return n*20 >= len(head) && n > 0
}

func controlByte(c byte) bool { return c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f }

// scanWide scans binary data that is mostly zero bytes with them dropped:
// text in UTF-16 or UTF-32 (either byte order), where each character is
// one byte and one to three zeros, which the delimited sequences read only
// when the zeros are one or two.
func (s *Scanner) scanWide(data []byte, pl place, enc string, depth int) *Finding {
	head := data[:min(len(data), 1024)]
	if !pl.binary || bytes.Count(head, []byte{0})*3 < len(head) {
		return nil
	}
	return s.scan(bytes.ReplaceAll(data, []byte{0}, nil), pl, join(enc, "wide"), depth+1)
}
