package corpus

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/ascii85"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/template"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// The functions a case's templates call to write a value as an attack, or
// a client, would: encodings, escapes, compressions, pieces.

var funcs = template.FuncMap{
	"b64":    func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"b64url": func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) },
	"b32":    func(s string) string { return base32.StdEncoding.EncodeToString([]byte(s)) },
	// b32l is base32 as a host name carries it: lower case, unpadded.
	"b32l": func(s string) string {
		return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(s)))
	},
	"b64raw": func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) },
	"urlq":   url.QueryEscape,
	"words":  strings.Fields,
	"join":   func(sep string, s []string) string { return strings.Join(s, sep) },
	// entities writes every character as an HTML character reference.
	"entities": func(s string) string {
		var b strings.Builder
		for i, c := range s {
			if i%2 == 0 {
				fmt.Fprintf(&b, "&#%d;", c)
			} else {
				fmt.Fprintf(&b, "&#x%x;", c)
			}
		}
		return b.String()
	},
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"hex":   func(s string) string { return hex.EncodeToString([]byte(s)) },
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"rev": func(s string) string {
		b := []byte(s)
		slices.Reverse(b)
		return string(b)
	},
	// pct percent-encodes every byte.
	"pct": func(s string) string {
		var b strings.Builder
		for _, c := range []byte(s) {
			fmt.Fprintf(&b, "%%%02X", c)
		}
		return b.String()
	},
	// jsonu writes every character as a JSON \u escape.
	"jsonu": func(s string) string {
		var b strings.Builder
		for _, c := range s {
			fmt.Fprintf(&b, `\u%04x`, c)
		}
		return b.String()
	},
	// wrap breaks s into lines of n characters with sep between them.
	"wrap": func(n int, sep, s string) string { return strings.Join(chunks(s, n), sep) },
	// delim puts sep between every n characters of s.
	"delim": func(n int, sep, s string) string { return strings.Join(chunks(s, n), sep) },
	"slice": func(i, j int, s string) string { return s[i:min(j, len(s))] },
	"half": func(k int, s string) string {
		if k == 0 {
			return s[:len(s)/2]
		}
		return s[len(s)/2:]
	},
	// third is the k-th (0, 1, 2) of three pieces of s.
	"third": func(k int, s string) string {
		n := len(s) / 3
		if k == 2 {
			return s[2*n:]
		}
		return s[k*n : (k+1)*n]
	},
	// codes writes each byte of s with format (CHAR(%d), \\x%02x), sep
	// between them.
	"codes": func(format, sep, s string) string {
		parts := make([]string, len(s))
		for i, c := range []byte(s) {
			parts[i] = fmt.Sprintf(format, c)
		}
		return strings.Join(parts, sep)
	},
	"a85": func(s string) string {
		out := make([]byte, ascii85.MaxEncodedLen(len(s)))
		return string(out[:ascii85.Encode(out, []byte(s))])
	},
	// uu is s uuencoded as a file called name, as uuencode(1) writes it.
	"uu": func(name, s string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "begin 644 %s\n", name)
		enc := func(v byte) byte {
			if v == 0 {
				return '`'
			}
			return v + ' '
		}
		for _, line := range chunks(s, 45) {
			b.WriteByte(enc(byte(len(line))))
			for k := 0; k < len(line); k += 3 {
				var g [3]byte
				copy(g[:], line[k:])
				v := uint32(g[0])<<16 | uint32(g[1])<<8 | uint32(g[2])
				for _, sh := range []uint{18, 12, 6, 0} {
					b.WriteByte(enc(byte(v >> sh & 63)))
				}
			}
			b.WriteByte('\n')
		}
		b.WriteString("`\nend\n")
		return b.String()
	},
	"rot13": func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case 'a' <= r && r <= 'z':
				return 'a' + (r-'a'+13)%26
			case 'A' <= r && r <= 'Z':
				return 'A' + (r-'A'+13)%26
			}
			return r
		}, s)
	},
	"repeat":  func(n int, s string) string { return strings.Repeat(s, n) },
	"gzip":    func(s string) (string, error) { return compress(s, "gzip") },
	"deflate": func(s string) (string, error) { return compress(s, "deflate") },
	"br":      func(s string) (string, error) { return compress(s, "br") },
	"zstd":    func(s string) (string, error) { return compress(s, "zstd") },
	// chunked frames its arguments as a chunked body; a last argument
	// starting with "trailer " adds that trailer line.
	"chunked": func(parts ...string) string {
		var b strings.Builder
		var trailer string
		for _, p := range parts {
			if t, ok := strings.CutPrefix(p, "trailer "); ok {
				trailer = t + "\r\n"
				continue
			}
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(p), p)
		}
		b.WriteString("0\r\n" + trailer + "\r\n")
		return b.String()
	},
	"crlf": func() string { return "\r\n" },
	// tags writes s in Unicode tag characters: invisible ASCII.
	"tags": func(s string) string {
		var b strings.Builder
		for _, c := range s {
			b.WriteRune(0xE0000 + c)
		}
		return b.String()
	},
	// rawnoise is n bytes of fixed pseudo-random data: a binary file.
	"rawnoise": func(n int) string { return string(fixedBytes(n, 99)) },
	// noise is n bytes of fixed pseudo-random data, base64-encoded: an
	// image or an archive as a JSON API carries it.
	"noise": func(n int) string {
		b := make([]byte, n)
		x := uint64(0x9e3779b97f4a7c15)
		for i := range b {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			b[i] = byte(x)
		}
		return base64.StdEncoding.EncodeToString(b)
	},
}

func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func compress(s, how string) (string, error) {
	var b bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	switch how {
	case "gzip":
		w = gzip.NewWriter(&b)
	case "deflate":
		w, _ = flate.NewWriter(&b, flate.DefaultCompression)
	case "br":
		w = brotli.NewWriter(&b)
	case "zstd":
		zw, err := zstd.NewWriter(&b)
		if err != nil {
			return "", err
		}
		w = zw
	}
	if _, err := w.Write([]byte(s)); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}
