package termtext

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	in := "a\x1b[31mb\x07c\u009bd\u202ee\u2066f\u200fg\u061ch\tI\nj\x7f"
	if got, want := Clean(in, true), "a?[31mb?c?d?e?f?g?h\tI\nj?"; got != want {
		t.Errorf("Clean = %q, want %q", got, want)
	}
	if got := Clean("a\nb", false); got != "a?b" {
		t.Errorf("Clean without lines = %q", got)
	}
	if got := Clean("héllo ✓ 日本", false); got != "héllo ✓ 日本" {
		t.Errorf("printable text changed: %q", got)
	}
}

func TestWriterAcrossWrites(t *testing.T) {
	var b strings.Builder
	w := &Writer{W: &b, Escape: true}
	rlo := []byte("x\u202ey")
	// Split inside the three-byte U+202E.
	w.Write(rlo[:2])
	w.Write(rlo[2:])
	w.Write([]byte("\x1b]52;c;AAAA\x07 ok\n"))
	if got, want := b.String(), `x\u202ey\u001b]52;c;AAAA\u0007 ok`+"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	b.Reset()
	w = &Writer{W: &b}
	w.Write([]byte("\u2067a\u0085"))
	if b.String() != "?a?" {
		t.Errorf("replacing writer: %q", b.String())
	}
}
