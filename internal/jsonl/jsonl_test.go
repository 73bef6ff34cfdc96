package jsonl

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestEachPassesOverLongLinesAndGoesOn(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"plain", "a\nbb\n\nccc", []string{"a", "bb", "ccc"}},
		{"a long line between", "a\n" + strings.Repeat("x", 300<<10) + "\nb\n", []string{"a", "b"}},
		{"a long last line", "a\n" + strings.Repeat("x", 300<<10), []string{"a"}},
		{"at the bound", strings.Repeat("y", 10) + "\n" + strings.Repeat("z", 11) + "\nok", []string{strings.Repeat("y", 10), "ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			max := 10
			if tc.name != "at the bound" {
				max = 100 << 10
			}
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				var got []string
				err := Each(r, max, func(l []byte) { got = append(got, string(l)) })
				if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") {
					t.Errorf("%.40q, %v; want %q", got, err, tc.want)
				}
			}
		})
	}
}

func TestWholeLeavesALineNotEndedYet(t *testing.T) {
	in := "a\n" + strings.Repeat("x", 300<<10) + "\nb\nhalf-writ"
	for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
		var got []string
		n, err := Whole(r, 100<<10, func(l []byte) { got = append(got, string(l)) })
		if err != nil || strings.Join(got, "|") != "a|b" || n != int64(len(in)-len("half-writ")) {
			t.Errorf("%.40q, %d, %v", got, n, err)
		}
	}
}

func TestEndStartsAtAWholeLine(t *testing.T) {
	log := "first\n" + strings.Repeat("x", 10000) + "\nsecond\nthird\n"
	for _, tc := range []struct {
		window int64
		want   string
	}{{int64(len(log)), "first|" + strings.Repeat("x", 10000) + "|second|third"}, {8, "third"}, {16, "second|third"}, {5, ""}} {
		r, err := End(strings.NewReader(log), tc.window)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		Each(r, 1<<20, func(l []byte) { got = append(got, string(l)) })
		if strings.Join(got, "|") != tc.want {
			t.Errorf("window %d: %.60q, want %.60q", tc.window, got, tc.want)
		}
	}
}
