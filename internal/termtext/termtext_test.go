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

func TestVisible(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"RUN apt-get install -y jq", "RUN apt-get install -y jq"},
		{"a\tb\nc", "a\tb\nc"},
		{"jq\u3000\u3000&& curl x", `jq\u3000\u3000&& curl x`},
		{"a\u00a0b\u2028c\u200bd\ufeffe", `a\u00a0b\u2028c\u200bd\ufeffe`},
		{"tag\U000E0041s", `tag\U000e0041s`},
		{"\u3164\u115f\ufe0f\u034f", `\u3164\u115f\ufe0f\u034f`},
		{"\x1b[31m\u202e\u0085", `\u001b[31m\u202e\u0085`},
		{"héllo 日本語 ✓", "héllo 日本語 ✓"},
		{"bad\xffbyte", "bad?byte"},
	} {
		if got := Visible(tc.in); got != tc.want {
			t.Errorf("Visible(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
