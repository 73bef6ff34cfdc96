package pod

import (
	"errors"
	"io"
	"testing"

	"github.com/containers/podman/v5/libpod/define"
)

// reads hands out one chunk a read, then io.EOF.
type reads [][]byte

func (r *reads) Read(p []byte) (int, error) {
	if len(*r) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*r)[0])
	if n == len((*r)[0]) {
		*r = (*r)[1:]
	} else {
		(*r)[0] = (*r)[0][n:]
	}
	return n, nil
}

// TestDetachKeysWhereverReadsCutThem: ctrl-p ctrl-q detach in one read or
// two, after input in the same read; a ctrl-p that another key follows, or
// that ends the input, is input.
func TestDetachKeysWhereverReadsCutThem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []string
		want   string
		detach bool
	}{
		{"one read each", []string{"\x10", "\x11"}, "", true},
		{"both in one read", []string{"\x10\x11"}, "", true},
		{"after input, in its read", []string{"ls\r\x10\x11more"}, "ls\r", true},
		{"split after input", []string{"ls\r\x10", "\x11"}, "ls\r", true},
		{"ctrl-p twice, then ctrl-q", []string{"\x10\x10\x11"}, "\x10", true},
		{"ctrl-p then another key", []string{"\x10", "x"}, "\x10x", false},
		{"ctrl-p at the end", []string{"a\x10"}, "a\x10", false},
		{"ctrl-q alone", []string{"\x11\x11"}, "\x11\x11", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r reads
			for _, c := range tc.chunks {
				r = append(r, []byte(c))
			}
			got, err := io.ReadAll(&detachReader{r: &r})
			if string(got) != tc.want || errors.Is(err, define.ErrDetach) != tc.detach || (!tc.detach && err != nil) {
				t.Errorf("%q: got %q, %v; want %q, detach %v", tc.chunks, got, err, tc.want, tc.detach)
			}
		})
	}
}
