package pod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/spec"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"golang.org/x/sys/unix"
)

// The agent's input when it has no terminal (agent.RelayStdin): Podman's
// conmon closes a container's stdin when any attach to it ends, and the
// agent, reading it, ended where attach said it ran on. Its input folder
// is in its stage, mounted read-only; the agent's command runs under the
// bottle binary's relay, which feeds it from the container's stdin (the
// start's own attach) and from the folder's pipe (bottle attach), and ends
// it only when the person's input ended (agent.InputEnded, marked here
// before what carries it is closed).
const (
	inputDir   = "/run/bottle/input" // the input folder, in the agent's container
	inputStage = "input"             // the input folder, in the stage
)

// inputs says whether ct's container has an input folder: the agent's,
// under runc (gVisor's kernel does not share a pipe of the host's), with
// the bottle binary known.
func (c *Conn) inputs(ct spec.Container) bool {
	return ct.Main && ct.Stage != "" && ct.Runtime == "" && c.exe != ""
}

// relays says whether ct's command runs under the relay: it has an input
// folder and no terminal (conmon leaves a terminal's input open).
func (c *Conn) relays(ct spec.Container) bool { return c.inputs(ct) && !ct.TTY }

// command is ct's command as its container runs it.
func (c *Conn) command(ct spec.Container) []string {
	if !c.relays(ct) {
		return ct.Command
	}
	return append([]string{aheadBin, "sidecar", "stdin", inputDir, "--"}, ct.Command...)
}

// inputMounts are what ct's container mounts for its input: the folder,
// and the bottle binary unless its process waits for a go-ahead (which
// mounts it).
func (c *Conn) inputMounts(ct spec.Container) []spec.Mount {
	if !c.inputs(ct) {
		return nil
	}
	ms := []spec.Mount{{Source: filepath.Join(ct.Stage, inputStage), Target: inputDir, ReadOnly: true}}
	if !c.waits(ct) {
		ms = append(ms, spec.Mount{Source: c.exe, Target: aheadBin, ReadOnly: true})
	}
	return ms
}

// makeInput makes ct's input folder, its input not ended: the pipe is
// read by the agent's user, written by the host alone.
func makeInput(ct spec.Container) error {
	dir := filepath.Join(ct.Stage, inputStage)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("the input folder of %s: %w", ct.Name, err)
	}
	if err := os.Remove(filepath.Join(dir, agent.InputEnded)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the input folder of %s: %w", ct.Name, err)
	}
	fifo := filepath.Join(dir, agent.InputFIFO)
	if err := unix.Mkfifo(fifo, 0o644); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("the input folder of %s: %w", ct.Name, err)
	}
	// The pipe itself, never what a link there names, then its mode
	// whatever the umask (fchmodat's AT_SYMLINK_NOFOLLOW would need
	// fchmodat2, Linux 6.6: an older kernel refuses it).
	fi, err := os.Lstat(fifo)
	if err == nil && fi.Mode().Type() != fs.ModeNamedPipe {
		err = fmt.Errorf("%s is not a pipe (%v)", fifo, fi.Mode().Type())
	}
	if err != nil {
		return fmt.Errorf("the input folder of %s: %w", ct.Name, err)
	}
	return errors.Join(os.Chmod(dir, 0o755), os.Chmod(fifo, 0o644))
}

// endingInput passes r on and marks the input in folder dir ended when r
// ends, before its end is passed on. A pointer: the bindings ask
// whether a reader is nil by reflection.
type endingInput struct {
	r   io.Reader
	dir string
}

func (e *endingInput) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		f, cerr := os.OpenFile(filepath.Join(e.dir, agent.InputEnded), os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW, 0o644)
		if cerr != nil {
			return n, fmt.Errorf("mark the agent's input ended: %w", cerr)
		}
		f.Close()
	}
	return n, err
}

// inputOf is how a running container takes its input: with a terminal,
// or through the host's input folder dir (relayed), or neither (its
// stdin, which conmon closes when an attach ends).
func (c *Conn) inputOf(ctx context.Context, name string) (dir string, relayed, tty bool) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	data, err := containers.Inspect(cctx, name, new(containers.InspectOptions).WithSize(false))
	if err != nil || data.Config == nil {
		return "", false, false
	}
	if data.Config.Tty {
		return "", false, true
	}
	for _, m := range data.Mounts {
		if m.Destination == inputDir {
			return m.Source, true, false
		}
	}
	return "", false, false
}

// typedInput is what a person types into an attach, read from in apart
// from what passes it on to the agent's input pipe (its Read), so that
// reading never waits on the agent: an agent that closed its input (the
// relay gone, the pipe taking nothing, or no reader at the pipe at all,
// the feed waiting for one) leaves the attach reading the detach keys all
// the same. What is typed waits for what passes it on up to typedHeld
// bytes; beyond, and once nothing passes it on, it is dropped, as a
// terminal's input to a program that never reads it.
type typedInput struct {
	in     io.Reader
	mu     sync.Mutex
	held   [][]byte // read, not yet passed on
	size   int      // bytes in held
	done   bool     // nothing passes the input on
	ended  bool     // in ended: err says why
	err    error
	signal chan struct{} // something changed for Read
}

// typedHeld bounds what is typed and waits for what passes it on.
const typedHeld = 1 << 20

func newTypedInput(in io.Reader) *typedInput {
	return &typedInput{in: in, signal: make(chan struct{}, 1)}
}

// read reads the person's input until it ends or fails (the detach keys:
// define.ErrDetach), and returns why. It never waits on what passes it on.
func (t *typedInput) read() error {
	for {
		buf := make([]byte, 32<<10)
		n, err := t.in.Read(buf)
		t.mu.Lock()
		if n > 0 && !t.done && t.size+n <= typedHeld {
			t.held = append(t.held, buf[:n])
			t.size += n
		}
		if err != nil {
			t.ended, t.err = true, err
		}
		t.mu.Unlock()
		t.wake()
		if err != nil {
			return err
		}
	}
}

func (t *typedInput) wake() {
	select {
	case t.signal <- struct{}{}:
	default:
	}
}

// fed says nothing passes the input on any more.
func (t *typedInput) fed() {
	t.mu.Lock()
	t.done, t.held, t.size = true, nil, 0
	t.mu.Unlock()
}

// Read passes on what was typed, then why the input ended (io.EOF, or
// the detach keys: the input is not ended then). One reader at a time.
func (t *typedInput) Read(p []byte) (int, error) {
	for {
		t.mu.Lock()
		if len(t.held) > 0 {
			n := copy(p, t.held[0])
			if t.held[0] = t.held[0][n:]; len(t.held[0]) == 0 {
				t.held = t.held[1:]
			}
			t.size -= n
			t.mu.Unlock()
			return n, nil
		}
		ended, err := t.ended, t.err
		t.mu.Unlock()
		if ended {
			return 0, err
		}
		<-t.signal
	}
}

// feedInput copies in to the pipe of the input folder dir until in ends
// (the input is then marked ended) or the pipe fails. It waits for the
// relay to read the pipe.
func feedInput(ctx context.Context, dir string, in io.Reader) error {
	fifo := filepath.Join(dir, agent.InputFIFO)
	var f *os.File
	for {
		fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err == nil {
			f = os.NewFile(uintptr(fd), fifo)
			if err := unix.SetNonblock(fd, false); err != nil {
				f.Close()
				return err
			}
			break
		}
		if !errors.Is(err, unix.ENXIO) {
			return fmt.Errorf("the agent's input: %w", err)
		}
		if _, err := os.Lstat(filepath.Join(dir, agent.InputEnded)); err == nil {
			return nil // ended before: the relay has gone
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond): // the relay is between two writers
		}
	}
	defer f.Close()
	_, err := io.Copy(f, &endingInput{r: in, dir: dir})
	return err
}
