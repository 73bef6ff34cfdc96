package dlp

import (
	"bytes"
	"html"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// scanEscaped scans what data says once its escapes (\u0067, \x67, \/)
// are undone: they break a secret into runs that no rule matches. Only the
// stretches around escapes are looked at.
func (s *Scanner) scanEscaped(data []byte, pl place, enc string, depth int) *Finding {
	var f *Finding
	escapedStretches(data, func(stretch []byte) bool {
		f = s.scan(unescape(stretch), pl, join(enc, "escaped"), depth+1)
		return f == nil
	})
	if f != nil {
		return f
	}
	// HTML's character references (&#103;, &#x68;, and, where the glued
	// views are on, named ones: &lowbar;, &Aopf;) do what \u does.
	next := func(b []byte) int {
		if s.on.glue {
			return referenceAt(b)
		}
		return bytes.Index(b, []byte("&#"))
	}
	for at := 0; at < len(data); {
		i := next(data[at:])
		if i < 0 {
			break
		}
		lo := max(at+i-escapeReach, at)
		hi := at + i
		for hi < len(data) && hi-(at+i) < 16*escapeReach {
			j := next(data[hi:min(len(data), hi+escapeReach)])
			if j < 0 {
				break
			}
			hi += j + 2
		}
		hi = min(hi+escapeReach, len(data))
		if f := s.scan([]byte(html.UnescapeString(string(data[lo:hi]))), pl, join(enc, "escaped"), depth+1); f != nil {
			return f
		}
		at = hi
	}
	return nil
}

// referenceAt is the index of the first HTML character reference in b
// that may stand for a key's character: a numeric one, or a named one
// but those every page has (&amp; &lt; &gt; &quot; &apos; &nbsp;); -1 for
// none.
func referenceAt(b []byte) int {
	for at := 0; ; {
		i := bytes.IndexByte(b[at:], '&')
		if i < 0 || at+i+1 >= len(b) {
			return -1
		}
		i += at
		if b[i+1] == '#' {
			return i
		}
		n := i + 1
		for n < len(b) && n-i <= 32 && isAlnum(b[n]) {
			n++
		}
		if n < len(b) && b[n] == ';' && n-i > 2 {
			switch string(b[i+1 : n]) {
			case "amp", "lt", "gt", "quot", "apos", "nbsp":
			default:
				return i
			}
		}
		at = i + 1
	}
}

// escapeReach is how far around an escape a secret may extend: longer than
// any key format.
const escapeReach = 160

// escapedStretches calls fn with each stretch of data around escapes that
// stand for token characters, merged where they overlap; fn returns false
// to stop.
func escapedStretches(data []byte, fn func([]byte) bool) {
	st := newStretches(data, fn)
	for i := 0; i+1 < len(data); i++ {
		i += max(bytes.IndexByte(data[i:], '\\'), 0)
		if data[i] != '\\' || i+1 >= len(data) {
			break
		}
		if n := data[i+1]; n != 'u' && n != 'x' && n != 'U' && n != '/' && (n < '0' || n > '7') && !escapedEscape(data, i) && !shortLine(data, i) {
			i++ // \\, \n and the like: skip the pair
			continue
		}
		if !st.add(i) {
			return
		}
	}
	st.end()
}

// stretches joins the stretches of data escapeReach either side of the
// places it is given, each that overlaps the last into one, and hands
// each to fn once whole; fn returns false to stop.
type stretches struct {
	data   []byte
	fn     func([]byte) bool
	lo, hi int
}

func newStretches(data []byte, fn func([]byte) bool) stretches {
	return stretches{data: data, fn: fn, lo: -1, hi: -1}
}

// add takes the place at i; false once fn said to stop.
func (s *stretches) add(i int) bool {
	if s.lo >= 0 && i-escapeReach <= s.hi {
		s.hi = min(i+escapeReach, len(s.data))
		return true
	}
	if s.lo >= 0 && !s.fn(s.data[s.lo:s.hi]) {
		return false
	}
	s.lo, s.hi = max(i-escapeReach, 0), min(i+escapeReach, len(s.data))
	return true
}

// end hands the last stretch to fn.
func (s *stretches) end() {
	if s.lo >= 0 {
		s.fn(s.data[s.lo:s.hi])
	}
}

// shortLine reports whether the \n at data[i] starts a line of one or two
// token characters that another \n ends, as a JSON string holds a key
// written a character or two a line: undone, the lines are a delimited
// sequence.
func shortLine(data []byte, i int) bool {
	if data[i+1] != 'n' {
		return false
	}
	j := i + 2
	for j < len(data) && j-i-2 < 3 && tokenChar[data[j]] {
		j++
	}
	return j > i+2 && j-i-2 <= 2 && j+1 < len(data) && data[j] == '\\' && data[j+1] == 'n'
}

// escapedEscape reports whether the backslash at data[i] escapes one
// that starts an escape of a token character: \\x67, \\u0067, \\147, as
// code that holds escapes reads once it is itself put in a JSON or C
// string. Undone once, such a stretch holds the escapes.
func escapedEscape(data []byte, i int) bool {
	if i+2 >= len(data) || data[i+1] != '\\' {
		return false
	}
	n := data[i+2]
	return n == 'u' || n == 'x' || n == 'U' || '0' <= n && n <= '7'
}

// unescape undoes the escapes of JSON, JavaScript and C strings: \uXXXX
// (surrogate pairs too), \u{X...}, \UXXXXXXXX, \xHH, octal \NNN, and the
// one-character ones.
func unescape(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		switch c := b[i+1]; c {
		case 'u', 'U', 'x':
			if c == 'u' && i+2 < len(b) && b[i+2] == '{' { // \u{67}, as JavaScript writes it
				if end := bytes.IndexByte(b[i+3:min(len(b), i+11)], '}'); end > 0 {
					if v, err := strconv.ParseUint(string(b[i+3:i+3+end]), 16, 32); err == nil && v <= unicode.MaxRune {
						out = utf8.AppendRune(out, rune(v))
						i += 3 + end
						continue
					}
				}
			}
			n := map[byte]int{'u': 4, 'U': 8, 'x': 2}[c]
			v, ok := hexValue(b, i+2, n)
			if !ok {
				out = append(out, b[i])
				continue
			}
			i += 1 + n
			if c == 'u' && utf16.IsSurrogate(rune(v)) {
				if lo, ok := hexValue(b, i+3, 4); ok && i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
					v = uint64(utf16.DecodeRune(rune(v), rune(lo)))
					i += 6
				}
			}
			if c == 'x' {
				out = append(out, byte(v))
			} else {
				out = utf8.AppendRune(out, rune(v))
			}
		case '0', '1', '2', '3', '4', '5', '6', '7': // \147, as C, Python and shells write a byte
			v, n := 0, 0
			for n < 3 && i+1+n < len(b) && '0' <= b[i+1+n] && b[i+1+n] <= '7' {
				v, n = v*8+int(b[i+1+n]-'0'), n+1
			}
			if v > 255 {
				v, n = v>>3, n-1
			}
			out, i = append(out, byte(v)), i+n
		case 'n':
			out, i = append(out, '\n'), i+1
		case 't':
			out, i = append(out, '\t'), i+1
		case 'r':
			out, i = append(out, '\r'), i+1
		case '/', '\\', '"', '\'':
			out, i = append(out, c), i+1
		default:
			out = append(out, b[i])
		}
	}
	return out
}

func hexValue(b []byte, at, n int) (uint64, bool) {
	if at+n > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[at:at+n]), 16, 32)
	return v, err == nil
}
