package pod

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/containers/podman/v5/libpod/define"
	"golang.org/x/sys/unix"
)

// withoutFchmodat2 runs f on a thread of its own on which the kernel
// answers fchmodat2 (Linux 6.6) with ENOSYS, as an older kernel does:
// Debian 12's 6.1, Ubuntu 22.04's 5.15, RHEL 9's 5.14. The thread is
// left locked, so it ends with the goroutine and its filter with it.
func withoutFchmodat2(t *testing.T, f func() error) error {
	t.Helper()
	probe := t.TempDir()
	errs := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with its filter
		prog := []unix.SockFilter{
			{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
			{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_FCHMODAT2, Jt: 0, Jf: 1},
			{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
			{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
		}
		fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			errs <- err
			return
		}
		if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
			errs <- err
			return
		}
		// The filter holds: the same call a 6.1 kernel would refuse.
		if err := unix.Fchmodat(unix.AT_FDCWD, probe, 0o700, unix.AT_SYMLINK_NOFOLLOW); err != unix.EOPNOTSUPP {
			t.Errorf("fchmodat(AT_SYMLINK_NOFOLLOW) under the filter: %v, want EOPNOTSUPP (no fchmodat2)", err)
		}
		errs <- f()
	}()
	return <-errs
}

// TestInputFolderIsMadeWithoutFchmodat2: makeInput set the pipe's mode
// with fchmodat(AT_SYMLINK_NOFOLLOW), which golang.org/x/sys makes with
// fchmodat2 and, where the kernel has none (before 6.6), answers
// EOPNOTSUPP: every Podman start of an agent with no terminal under runc
// failed there at create ("the input folder of ...: operation not
// supported"). The pipe is made with the mode the agent's user reads,
// whatever the umask, on such a kernel too, and a pipe's place holding
// something else is refused.
func TestInputFolderIsMadeWithoutFchmodat2(t *testing.T) {
	stage := t.TempDir()
	ct := spec.Container{Name: "bottle-shell-abcde-agent", Stage: stage}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for i := range 2 { // made, then made again over what the first left
		if err := withoutFchmodat2(t, func() error { return makeInput(ct) }); err != nil {
			t.Fatalf("makeInput (round %d) on a kernel without fchmodat2: %v", i, err)
		}
		fi, err := os.Lstat(filepath.Join(stage, inputStage, agent.InputFIFO))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != fs.ModeNamedPipe || fi.Mode().Perm() != 0o644 {
			t.Errorf("round %d: the input pipe is %v, want a pipe 0644", i, fi.Mode())
		}
	}
	fifo := filepath.Join(stage, inputStage, agent.InputFIFO)
	os.Remove(fifo)
	outside := filepath.Join(t.TempDir(), "outside")
	os.WriteFile(outside, nil, 0o600)
	os.Symlink(outside, fifo)
	if err := makeInput(ct); err == nil {
		t.Error("makeInput took a link where its pipe goes")
	}
	if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o600 {
		t.Errorf("makeInput changed what a link at its pipe names: %v", fi.Mode())
	}
}

// What is typed into an attach is read whatever passes it on: once the
// agent's input takes nothing (fed), the detach keys typed after are still
// found, and what passes it on is told the detach, never an end (which
// would end the agent's input).
func TestTypedInputSeesTheDetachKeysWhenNothingTakesIt(t *testing.T) {
	r, w := io.Pipe()
	typed := newTypedInput(&detachReader{r: r})
	keys := make(chan error, 1)
	go func() { keys <- typed.read() }()
	go func() {
		w.Write([]byte("one\n"))
		for range 20 { // more than the chunks kept for what passes it on
			w.Write([]byte("x"))
		}
		w.Write([]byte{0x10, 0x11})
	}()
	buf := make([]byte, 16)
	if n, err := typed.Read(buf); err != nil || string(buf[:n]) != "one\n" {
		t.Fatalf("first read: %q, %v", buf[:n], err)
	}
	typed.fed() // the agent closed its input: nothing passes it on
	select {
	case err := <-keys:
		if !errors.Is(err, define.ErrDetach) {
			t.Fatalf("the input ended with %v, want the detach", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the detach keys were never read: the input waits on what passes it on")
	}

	// Passed on whole, then the detach, not an end.
	r, w = io.Pipe()
	typed = newTypedInput(&detachReader{r: r})
	go typed.read()
	go func() { w.Write([]byte("two\n")); w.Write([]byte{0x10, 0x11}) }()
	got, err := io.ReadAll(typed)
	if string(got) != "two\n" || !errors.Is(err, define.ErrDetach) {
		t.Errorf("passed on %q, ended with %v: want the line, then the detach", got, err)
	}
}

// The detach keys are read however long what passes the input on waits:
// an agent that ended its relay (killed it, or closed its input before
// this attach) leaves no reader at the pipe, and the feed waits for one
// (ENXIO) without ever ending; what is typed meanwhile must not stop the
// keys being read.
func TestTypedInputSeesTheDetachKeysWhileTheFeedWaits(t *testing.T) {
	r, w := io.Pipe()
	typed := newTypedInput(&detachReader{r: r})
	keys := make(chan error, 1)
	go func() { keys <- typed.read() }()
	go func() {
		for range 40 { // a person's lines, none taken
			w.Write([]byte("anyone there?\n"))
		}
		w.Write([]byte{0x10, 0x11})
	}()
	select {
	case err := <-keys:
		if !errors.Is(err, define.ErrDetach) {
			t.Fatalf("the input ended with %v, want the detach", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the detach keys were never read: the input waits on a feed that waits for a reader")
	}
	// What was typed before the keys is still passed on, then the detach.
	got, err := io.ReadAll(typed)
	if want := strings.Repeat("anyone there?\n", 40); string(got) != want || !errors.Is(err, define.ErrDetach) {
		t.Errorf("passed on %d bytes, ended with %v: want %d, then the detach", len(got), err, len(want))
	}
}
