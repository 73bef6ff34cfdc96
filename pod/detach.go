package pod

import (
	"context"
	"io"
	"os"
	"os/signal"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// detachSequence is ctrl-p ctrl-q, Podman's default detach keys.
var detachSequence = []byte{0x10, 0x11}

// detachReader passes a person's input on until the detach keys, which it
// keeps back and answers with define.ErrDetach, the bindings' own detach.
// It finds them wherever reads cut the input: the bindings find them only
// when each key comes in a read of its own, and a busy machine or a
// terminal that sends both at once hands them over in one read, which the
// agent then got (ctrl-p to a shell: its history).
type detachReader struct {
	r       io.Reader
	matched int    // how many of the keys end what was read, held back
	pending []byte // read and passed on next
	buf     []byte
	err     error // the reader's, once pending is handed out
	detach  bool
}

func (d *detachReader) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		switch {
		case d.detach:
			return 0, define.ErrDetach
		case d.err != nil:
			return 0, d.err
		}
		if cap(d.buf) < len(p) {
			d.buf = make([]byte, len(p))
		}
		n, err := d.r.Read(d.buf[:len(p)])
		for _, c := range d.buf[:n] {
			if c == detachSequence[d.matched] {
				if d.matched++; d.matched == len(detachSequence) {
					d.detach = true // what came after the keys is not the agent's
					break
				}
				continue
			}
			d.pending = append(d.pending, detachSequence[:d.matched]...)
			d.matched = 0
			if c == detachSequence[0] {
				d.matched = 1
				continue
			}
			d.pending = append(d.pending, c)
		}
		if err != nil && !d.detach {
			d.pending = append(d.pending, detachSequence[:d.matched]...) // a key alone at the end is input
			d.matched, d.err = 0, err
		}
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

// rawTerminal puts the person's terminal in raw mode for an attach to a
// container with a terminal, and keeps the container's terminal the size
// of theirs, as the bindings do for an *os.File (which the detachReader in
// front of it is not). It returns what undoes both.
func rawTerminal(ctx context.Context, name string, in, out any) func() {
	if !isTerminal(in) {
		return func() {}
	}
	inFile := in.(*os.File)
	sizeOf := inFile
	if isTerminal(out) {
		sizeOf = out.(*os.File)
	}
	old, err := term.MakeRaw(int(inFile.Fd()))
	if err != nil {
		return func() {}
	}
	resize := func() {
		if w, h, err := term.GetSize(int(sizeOf.Fd())); err == nil {
			containers.ResizeContainerTTY(ctx, name, new(containers.ResizeTTYOptions).WithHeight(h).WithWidth(w))
		}
	}
	resize()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-winch:
				resize()
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
		term.Restore(int(inFile.Fd()), old)
	}
}

func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
