package inbound

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalize returns text as the rules read it; with keepInvisible, the
// invisible characters count as spaces instead of being dropped (to tell
// what they hid).
// It also reports whether there were any invisible characters.
func normalize(b []byte, keepInvisible bool) ([]byte, bool) {
	for _, c := range b {
		if c >= 0x80 {
			return fold(norm.NFKC.Bytes(b), keepInvisible)
		}
	}
	return fold(b, keepInvisible)
}

// fold lowers, collapses spaces and maps lookalikes; invisible characters
// are dropped unless keep is set (then they count as a space). A line break
// is kept: it ends a rule's reach.
func fold(b []byte, keep bool) ([]byte, bool) {
	out := make([]byte, 0, len(b))
	space, hid := true, false
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			i++
			switch k := asciiKind[c]; k {
			case 0:
				out = append(out, asciiLower[c])
				space = false
			case 1: // space or tab
				if !space {
					out = append(out, ' ')
					space = true
				}
			case 2: // line break
				if len(out) > 0 && out[len(out)-1] == ' ' {
					out[len(out)-1] = '\n'
				} else if len(out) > 0 && out[len(out)-1] != '\n' {
					out = append(out, '\n')
				}
				space = true
			}
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		i += n
		switch {
		case invisible(r):
			hid = true
			if keep && !space {
				out = append(out, ' ')
				space = true
			}
		case r >= 0xE0020 && r <= 0xE007E: // tag characters: invisible ASCII
			hid = true
			if keep {
				if !space {
					out = append(out, ' ')
					space = true
				}
			} else {
				out = append(out, asciiLower[r-0xE0000])
				space = false
			}
		default:
			if l, ok := lookalike[r]; ok {
				out = append(out, l)
			} else {
				out = utf8.AppendRune(out, unicode.ToLower(r))
			}
			space = false
		}
	}
	return out, hid
}

// asciiKind: 0 a character kept, 1 a space, 2 a line break; asciiLower
// lowers letters.
var asciiKind, asciiLower = func() (kind, lower [128]byte) {
	for c := range 128 {
		lower[c] = byte(c)
		if 'A' <= c && c <= 'Z' {
			lower[c] = byte(c + 'a' - 'A')
		}
	}
	kind[' '], kind['\t'], kind['\r'], kind['\n'] = 1, 1, 2, 2
	return kind, lower
}()

func invisible(r rune) bool {
	switch {
	case r == 0x200B, r == 0x200C, r == 0x200D, r == 0x2060, r == 0xFEFF, r == 0x180E, r == 0x00AD,
		r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C,
		r >= 0xE0000 && r <= 0xE001F, r == 0xE007F:
		return true
	}
	return false
}

// lookalike folds the Cyrillic and Greek letters that pass for Latin ones.
var lookalike = map[rune]byte{
	'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x',
	'ѕ': 's', 'і': 'i', 'ј': 'j', 'ԁ': 'd', 'ɡ': 'g', 'ӏ': 'l', 'ԛ': 'q', 'ԝ': 'w',
	'А': 'a', 'В': 'b', 'Е': 'e', 'К': 'k', 'М': 'm', 'Н': 'h', 'О': 'o', 'Р': 'p', 'С': 'c', 'Т': 't', 'У': 'y', 'Х': 'x',
	'Ѕ': 's', 'І': 'i', 'Ј': 'j',
	'α': 'a', 'β': 'b', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
	'Α': 'a', 'Β': 'b', 'Ε': 'e', 'Η': 'h', 'Ι': 'i', 'Κ': 'k', 'Μ': 'm', 'Ν': 'n', 'Ο': 'o', 'Ρ': 'p', 'Τ': 't', 'Υ': 'y', 'Χ': 'x', 'Ζ': 'z',
}
