// Package jsonl reads a log of JSON lines that a container wrote (an audit
// log in a sidecar's folder): its lines are hostile ground, so a line past
// the reader's bound is passed over, and the lines after it are still read.
// bufio.Scanner stops at such a line, and whatever came after it (what the
// agent did next) was never shown.
package jsonl

import (
	"bufio"
	"errors"
	"io"
)

// Each calls each with every line of r up to max bytes long (without its
// newline), in order; a longer line is passed over whole. The line is only
// valid during the call.
func Each(r io.Reader, max int, each func(line []byte)) error {
	_, err := read(r, max, true, each)
	return err
}

// Whole is Each for a log still being written: a last line without its
// newline is left (it may be written only in part), and n is how many
// bytes the lines before it took, newlines included: where to read on
// from, once more is written.
func Whole(r io.Reader, max int, each func(line []byte)) (n int64, err error) {
	return read(r, max, false, each)
}

func read(r io.Reader, max int, last bool, each func(line []byte)) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	var done, size int64 // bytes of the whole lines read; of the line under way
	long := false        // the line under way is past max: the rest of it is dropped
	for {
		part, err := br.ReadSlice('\n')
		size += int64(len(part))
		if !long {
			line = append(line, part...)
			if len(line) > max+1 { // its newline not counted
				long, line = true, line[:0]
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return done, err
		case err != nil && !last: // io.EOF: a line not ended yet
			return done, nil
		}
		if !long {
			if l := trimNewline(line); len(l) > 0 && len(l) <= max {
				each(l)
			}
		}
		done += size
		if err != nil { // io.EOF
			return done, nil
		}
		long, line, size = false, line[:0], 0
	}
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// End is f from the first whole line of its last window bytes on (all of
// it when it is no longer): for a reader that shows a log's last lines and
// must not read a log the agent made long whole, again and again.
func End(f io.ReadSeeker, window int64) (io.Reader, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if size <= window {
		_, err := f.Seek(0, io.SeekStart)
		return f, err
	}
	if _, err := f.Seek(size-window, io.SeekStart); err != nil {
		return nil, err
	}
	br := bufio.NewReader(f)
	for { // the rest of the line the window begins in
		_, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			return br, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return br, nil // io.EOF: no whole line in the window
		}
	}
}
