package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// An agent with no terminal keeps its input open across attaches. Podman's
// conmon closes a container's stdin when any attach to it ends (it is given
// no --leave-stdin-open), a detach and an attach with no stdin too: an agent
// reading its input then ended, though the attach said it ran on. So the
// agent's input is a pipe of its own, fed by a small process of the bottle
// binary from two sources: the container's stdin (a start's own attach) and
// the pipe InputFIFO in the input folder, which a later attach writes (the
// host's folder, mounted read-only). Either source ending ends the agent's
// input only when the host has marked it ended (InputEnded), which an
// attach does before it closes what it writes when the person's input
// ends; a detach, an interrupt or an attach with no stdin leaves it open.
const (
	InputFIFO  = "in"    // in the input folder: what an attach writes
	InputEnded = "ended" // in the input folder: the person's input ended
)

// RelayStdin runs argv with its stdin fed as above from the input folder
// dir, the bottle binary self copying it (CopyStdin): the copier is
// started, then this process becomes argv (its PID, its signals, its exit
// code: the container's).
func RelayStdin(self, dir string, argv []string) error {
	if len(argv) == 0 {
		return errors.New("relay the agent's input: no command")
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("relay the agent's input: %w", err)
	}
	cp := exec.Command(self, "sidecar", "stdin-copy", dir)
	cp.Stdin, cp.ExtraFiles = os.Stdin, []*os.File{w}
	if err := cp.Start(); err != nil {
		return fmt.Errorf("relay the agent's input: %w", err)
	}
	w.Close()
	if err := unix.Dup2(int(r.Fd()), 0); err != nil {
		return fmt.Errorf("relay the agent's input: %w", err)
	}
	r.Close()
	return execCommand(argv)
}

// CopyStdin is the copier RelayStdin starts: it copies its stdin and
// every writer of the input folder's pipe into out (fd 3), the agent's
// input, until the input is marked ended or the agent's is closed.
func CopyStdin(dir string, out *os.File) error {
	var mu sync.Mutex
	done := make(chan struct{})
	var once sync.Once
	end := func() { once.Do(func() { close(done) }) }
	ended := func() bool {
		_, err := os.Lstat(filepath.Join(dir, InputEnded))
		return err == nil
	}
	// from copies in into out; false when out is closed (the agent's end).
	from := func(in io.Reader) bool {
		buf := make([]byte, 32<<10)
		for {
			n, err := in.Read(buf)
			if n > 0 {
				mu.Lock()
				_, werr := out.Write(buf[:n])
				mu.Unlock()
				if werr != nil {
					return false
				}
			}
			if err != nil {
				return true
			}
		}
	}
	go func() {
		if !from(os.Stdin) || ended() {
			end()
		}
	}()
	go func() {
		for {
			// Blocks until an attach opens it to write; ends with its writer.
			f, err := os.OpenFile(filepath.Join(dir, InputFIFO), os.O_RDONLY|unix.O_NOFOLLOW, 0)
			if err != nil {
				return // no later attach writes: the container's stdin alone
			}
			ok := from(f)
			f.Close()
			if !ok || ended() {
				end()
				return
			}
		}
	}()
	<-done
	return out.Close()
}
