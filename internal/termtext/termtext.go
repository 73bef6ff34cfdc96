// Package termtext makes text that came from inside a bottle safe to show on
// a person's terminal: C0 and C1 controls (escape sequences that move the
// cursor, recolour, retitle, write the clipboard) and the bidirectional
// overrides and marks that reorder what is shown are replaced, so an agent
// can neither repaint the screen nor make text read differently than it is.
package termtext

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Unsafe reports whether r is replaced: C0 controls but tab (and newline
// when lines are kept), DEL, C1 controls, and the bidi controls (U+061C,
// U+200E, U+200F, U+202A-U+202E, U+2066-U+2069).
func Unsafe(r rune, keepLines bool) bool {
	switch {
	case r == '\t', r == '\n' && keepLines:
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == utf8.RuneError:
		return true
	}
	return false
}

// Clean replaces each unsafe rune of s with "?".
func Clean(s string, keepLines bool) string {
	return strings.Map(func(r rune) rune {
		if Unsafe(r, keepLines) {
			return '?'
		}
		return r
	}, s)
}

// Fprintf writes what fmt.Fprintf would, each unsafe rune replaced (newlines
// kept): for bottle's own messages, whose errors quote what came from a
// bottle (a parser quotes the agent's Containerfile; a path names what the
// agent made).
func Fprintf(w io.Writer, format string, args ...any) {
	io.WriteString(w, Clean(fmt.Sprintf(format, args...), true))
}

// Writer passes a stream on with each unsafe rune replaced (newlines kept):
// by "?", or with Escape by its JSON escape (\u202e), which keeps a JSON
// line valid and says what was there; with Escape, each hidden rune too
// (\u200b), so what shows as nothing can be read.
type Writer struct {
	W      io.Writer
	Escape bool
	rest   []byte // an incomplete rune at the end of the last write
}

func (w *Writer) Write(p []byte) (int, error) {
	buf := append(w.rest, p...)
	w.rest = nil
	var out strings.Builder
	for len(buf) > 0 {
		r, size := utf8.DecodeRune(buf)
		if r == utf8.RuneError && size < 4 && !utf8.FullRune(buf) {
			w.rest = append([]byte(nil), buf...) // wait for the rest of it
			break
		}
		switch {
		case !Unsafe(r, true) && !(w.Escape && Hidden(r)):
			out.Write(buf[:size])
		case w.Escape && r != utf8.RuneError:
			escape(&out, r)
		default:
			out.WriteByte('?')
		}
		buf = buf[size:]
	}
	if _, err := io.WriteString(w.W, out.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escape writes r as JSON escapes it: beyond the BMP, a surrogate pair.
func escape(out *strings.Builder, r rune) {
	if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
		fmt.Fprintf(out, `\u%04x\u%04x`, r1, r2)
		return
	}
	fmt.Fprintf(out, `\u%04x`, r)
}

// Hidden reports whether r would not show as itself on a terminal: a
// whitespace beyond ASCII (U+00A0, U+3000, ...), a format character
// (U+200B, U+FEFF, the tag characters, ...) or another code point that
// renders as nothing (U+3164, the variation selectors, ...).
func Hidden(r rune) bool {
	switch {
	case r < 0x80:
		return false
	case unicode.IsSpace(r), unicode.Is(unicode.Cf, r),
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r), unicode.Is(unicode.Variation_Selector, r):
		return true
	}
	return false
}

// Visible shows s for a person who approves it (a Containerfile): newlines
// and tabs stay, every unsafe or hidden rune becomes its escape (\u3000,
// \U000e0041), so what cannot be seen can still be read; an invalid byte
// becomes "?".
func Visible(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			b.WriteByte('?')
		case !Unsafe(r, true) && !Hidden(r):
			b.WriteRune(r)
		case r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}
