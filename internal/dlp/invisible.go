package dlp

import (
	"encoding/binary"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// A key written in Unicode that reads as the key, or hidden in characters
// no one sees, breaks every run the scan looks at:
//
//   - default-ignorable characters between its own (zero-width spaces and
//     joiners, soft hyphens, bidi marks, fillers, variation selectors, a
//     byte-order mark): dropped;
//   - tag characters (U+E0020 to U+E007E, "ASCII smuggling"): each is the
//     ASCII character it shadows;
//   - compatibility forms (fullwidth ｇｈｐ＿, mathematical 𝐠𝐡𝐩, circled ⓖ,
//     superscript ⁴): NFKC makes them ASCII;
//   - Cyrillic and Greek letters that pass for Latin ones, next to ASCII
//     letters or digits (a word in one script has no such neighbours);
//   - bytes written as variation selectors after a character (VS1-16 for
//     0-15, VS17-256 for 16-255, "emoji smuggling"): a row of them is the
//     bytes.
//
// The stretches around such characters are scanned once they are undone.

type uniClass uint8

const (
	uniKeep      uniClass = iota
	uniDrop               // default-ignorable: dropped
	uniTag                // a tag character: the ASCII one it shadows
	uniSelector           // a variation selector: dropped, or a byte in a row of them
	uniCompat             // NFKC makes it an ASCII letter or digit
	uniSign               // a fullwidth sign: NFKC makes it an ASCII one
	uniLookalike          // passes for a Latin letter
)

// uniLead marks the lead bytes of the characters the view changes.
var uniLead = func() (t [256]bool) {
	for _, c := range []byte{0xc2, 0xc9, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd3, 0xd4, 0xd8, 0xe1, 0xe2, 0xe3, 0xef, 0xf0, 0xf3} {
		t[c] = true
	}
	return t
}()

// uniAt classifies the character at b[0] (not ASCII), and returns its
// length.
func uniAt(b []byte) (uniClass, int) {
	if !uniLead[b[0]] {
		return uniKeep, max(1, utf8Len(b[0]))
	}
	r, n := utf8.DecodeRune(b)
	return classify(r), n
}

func utf8Len(c byte) int {
	switch {
	case c >= 0xf0:
		return 4
	case c >= 0xe0:
		return 3
	case c >= 0xc0:
		return 2
	}
	return 1
}

func classify(r rune) uniClass {
	switch {
	case r == 0x00AD, r == 0x034F, r == 0x061C, r == 0x115F, r == 0x1160, r == 0x17B4, r == 0x17B5,
		0x180B <= r && r <= 0x180F, 0x200B <= r && r <= 0x200F, 0x202A <= r && r <= 0x202E,
		0x2060 <= r && r <= 0x206F, r == 0x3164, r == 0xFEFF, r == 0xFFA0, 0xFFF0 <= r && r <= 0xFFF8,
		0x1BCA0 <= r && r <= 0x1BCA3, 0x1D173 <= r && r <= 0x1D17A,
		0xE0000 <= r && r <= 0xE0FFF && !(0xE0020 <= r && r <= 0xE007E) && !(0xE0100 <= r && r <= 0xE01EF):
		return uniDrop
	case 0xE0020 <= r && r <= 0xE007E:
		return uniTag
	case 0xFE00 <= r && r <= 0xFE0F, 0xE0100 <= r && r <= 0xE01EF:
		return uniSelector
	case 0xFF01 <= r && r <= 0xFF5E && !isAlnum(byte(r-0xFF01+'!')):
		return uniSign
	case 0xFF01 <= r && r <= 0xFF5E, 0x1D400 <= r && r <= 0x1D7FF, 0x2460 <= r && r <= 0x24FF,
		0x1F100 <= r && r <= 0x1F1FF, 0x2070 <= r && r <= 0x209F, 0x2100 <= r && r <= 0x218F,
		0x1D2C <= r && r <= 0x1D6A, r == 0x00AA, r == 0x00B2, r == 0x00B3, r == 0x00B9, r == 0x00BA:
		return uniCompat
	}
	if r < 0x800 {
		if _, ok := lookalike[r]; ok {
			return uniLookalike
		}
	}
	return uniKeep
}

// lookalike folds the Cyrillic and Greek letters that pass for Latin ones
// (the inbound scan's table, with their case).
var lookalike = map[rune]byte{
	'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x',
	'ѕ': 's', 'і': 'i', 'ј': 'j', 'ԁ': 'd', 'ɡ': 'g', 'ӏ': 'l', 'ԛ': 'q', 'ԝ': 'w', 'һ': 'h',
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O', 'Р': 'P', 'С': 'C', 'Т': 'T', 'У': 'Y', 'Х': 'X',
	'Ѕ': 'S', 'І': 'I', 'Ј': 'J',
	'α': 'a', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N', 'Ο': 'O', 'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X', 'Ζ': 'Z',
}

// nextHigh is the index of the first byte past ASCII at or after i, or
// len(b): eight bytes at a time, since most data is ASCII.
func nextHigh(b []byte, i int) int {
	for ; i+32 <= len(b); i += 32 {
		w := b[i : i+32]
		if (binary.LittleEndian.Uint64(w)|binary.LittleEndian.Uint64(w[8:])|binary.LittleEndian.Uint64(w[16:])|binary.LittleEndian.Uint64(w[24:]))&0x8080808080808080 != 0 {
			break
		}
	}
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	for i < len(b) && b[i] < 0x80 {
		i++
	}
	return i
}

// minSmuggled is the shortest row of variation selectors read as bytes:
// an emoji has one.
const minSmuggled = 8

// scanInvisible scans the stretches around the characters the view
// changes with them undone, and each row of variation selectors as the
// bytes it stands for.
func (s *Scanner) scanInvisible(data []byte, pl place, enc string, depth int) *Finding {
	lo, hi := -1, -1
	flush := func() *Finding {
		if lo < 0 {
			return nil
		}
		return s.scan(undoUnicode(data[lo:hi]), pl, join(enc, "unicode"), depth+1)
	}
	for i := nextHigh(data, 0); i < len(data); i = nextHigh(data, i) {
		c, n := data[i], utf8Len(data[i])
		// Most characters past ASCII change nothing, and most of those
		// that do hide a key only next to its characters: decoded only
		// there, or when their lead byte is one of the forms that are a
		// key's characters themselves (circled, fullwidth, mathematical,
		// tags).
		near := i > 0 && tokenChar[data[i-1]] || i+n < len(data) && tokenChar[data[i+n]]
		class := uniKeep
		if c == 0xe2 || c == 0xef || c == 0xf0 || c == 0xf3 || near && uniLead[c] {
			class, n = uniAt(data[i:])
		}
		switch class {
		case uniKeep:
			i += n
			continue
		case uniDrop, uniLookalike, uniSign:
			if !near {
				i += n
				continue
			}
		case uniSelector:
			f, end := s.smuggled(data, i, pl, enc, depth)
			if f != nil {
				return f
			}
			if !near {
				i = max(end, i+n)
				continue
			}
		}
		if lo >= 0 && i-escapeReach <= hi {
			hi = min(i+n+escapeReach, len(data))
		} else {
			if f := flush(); f != nil {
				return f
			}
			lo, hi = max(i-escapeReach, 0), min(i+n+escapeReach, len(data))
		}
		i += n
	}
	return flush()
}

// undoUnicode is b with the characters the view changes undone. Tag
// characters are text of their own, hidden in what shows: a line break
// keeps them apart from it.
func undoUnicode(b []byte) []byte {
	out := make([]byte, 0, len(b))
	tags := false
	for i := 0; i < len(b); {
		if b[i] < 0x80 {
			if tags {
				out, tags = append(out, '\n'), false
			}
			out = append(out, b[i])
			i++
			continue
		}
		class, n := uniAt(b[i:])
		n = min(n, len(b)-i)
		if (class == uniTag) != tags && class != uniDrop {
			out, tags = append(out, '\n'), class == uniTag
		}
		switch class {
		case uniKeep:
			out = append(out, b[i:i+n]...)
		case uniTag:
			r, _ := utf8.DecodeRune(b[i:])
			out = append(out, byte(r-0xE0000))
		case uniCompat, uniSign:
			out = norm.NFKC.Append(out, b[i:i+n]...)
		case uniLookalike:
			r, _ := utf8.DecodeRune(b[i:])
			out = append(out, lookalike[r])
		}
		i += n
	}
	return out
}

// smuggled scans the bytes a row of variation selectors from data[at]
// stands for, when it is long enough; end is where the row ends.
func (s *Scanner) smuggled(data []byte, at int, pl place, enc string, depth int) (f *Finding, end int) {
	var out []byte
	i := at
	for i < len(data) {
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case 0xFE00 <= r && r <= 0xFE0F:
			out = append(out, byte(r-0xFE00))
		case 0xE0100 <= r && r <= 0xE01EF:
			out = append(out, byte(r-0xE0100+16))
		default:
			if len(out) < minSmuggled {
				return nil, i
			}
			return s.scan(out, pl, join(enc, "variation selectors"), depth+1), i
		}
		i += n
	}
	if len(out) < minSmuggled {
		return nil, i
	}
	return s.scan(out, pl, join(enc, "variation selectors"), depth+1), i
}
