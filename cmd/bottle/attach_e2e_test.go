//go:build e2e

package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A runsc service is started from the podman on PATH (e2e_phases_test.go).
var _ = needs([]string{podmanService, hostPodman}, TestAttachUnderGVisorSaysTheInputIsClosed)

// bottle attach joins the streams of a bottle started detached: what is
// typed reaches the agent, what it says comes back, and its exit code is
// attach's. An interrupted attach leaves the agent running and says how to
// come back; an agent that ended is refused in a bottle's terms.
func TestAttachToADetachedBottle(t *testing.T) {
	e := newEnv(t, "")
	id := e.startDetached(`read line; echo "got $line"; exit 3`)
	cmd := e.command("attach", id)
	cmd.Stdin = strings.NewReader("hello\n")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 3 || !strings.Contains(out.String(), "got hello") {
		t.Errorf("attach: exit %d (%v), stdout %q, stderr %q: want the agent's answer and its exit code 3", code, err, out.String(), errb.String())
	}
	if _, errs, code := e.run("attach", id); code != exitFailure || !strings.Contains(errs, "bottle "+id+"'s agent service is not running") || strings.Contains(errs, "bottle-"+id) {
		t.Errorf("attach to an ended agent: exit %d: %s", code, errs)
	}
	e.mustRun("rm", id)

	id = strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c", "while :; do echo tick; sleep 0.2; done"))
	cmd = e.command("attach", "--no-stdin", id)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = &errb
	errb.Reset()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ticks := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "tick" {
				select {
				case ticks <- true:
				default:
				}
			}
		}
	}()
	select {
	case <-ticks:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("attach showed nothing of the agent: %s", errb.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(errb.String(), "bottle: detached from "+id+", which runs on: bottle attach "+id) {
		t.Errorf("an interrupted attach: exit %d: %s", code, errb.String())
	}
	if ls := e.mustRun("ls"); !strings.Contains(ls, id) || !strings.Contains(ls, "running") {
		t.Errorf("the agent did not run on after the attach ended:\n%s", ls)
	}
	e.mustRun("rm", id)
	e.assertClean()
}

// A bottle started detached from a terminal has one: bottle attach, in a
// terminal, gives the agent's shell what is typed, and ctrl-p ctrl-q
// detach (exit 0) with the agent running on.
func TestAttachWithATerminal(t *testing.T) {
	e := newEnv(t, "")
	term := newTerminal(t, e, 80, 24, "start", "--yes", "-d", "t")
	poll(t, 60*time.Second, "the detached start", term.gone)
	id := strings.TrimSpace(e.mustRun("ls", "-q"))
	if out, err := os.ReadFile(filepath.Join(e.dir, "terminal-exit")); err != nil || strings.TrimSpace(string(out)) != "0" || !strings.HasPrefix(id, "t-") {
		t.Fatalf("start -d in a terminal: exit %q (%v), bottles %q", out, err, id)
	}
	term.start(e, 80, 24, "attach", id)
	// Typed before the attach is up, the line waits in the terminal.
	term.text("echo hi from $((40+9))")
	term.keys("Enter")
	term.waitFor("the agent's answer", "hi from 49")
	// Both keys in one write, as they reach attach when it reads late (a
	// busy machine) or a terminal sends them together: one read holds both.
	term.tmux("send-keys", "-t", term.session, "C-p", "C-q")
	for deadline := time.Now().Add(30 * time.Second); !term.gone(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("ctrl-p ctrl-q did not detach; the screen:\n%s", term.screen())
		}
	}
	if out, err := os.ReadFile(filepath.Join(e.dir, "terminal-exit")); err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("attach ended with %q (%v), want 0: a detach", out, err)
	}
	if out := e.mustRun("exec", id, "true"); out != "" {
		t.Errorf("exec in the agent after the detach printed %q", out)
	}
	e.mustRun("rm", id)
	e.assertClean()
}

// A second start in a folder a running bind bottle uses is refused first,
// in one line naming that bottle and the folder, with nothing before it
// (no preflight of a bottle that will not be).
func TestSecondStartInAUsedFolderIsRefusedFirst(t *testing.T) {
	e := newEnv(t, "")
	id := e.startDetached("sleep 600")
	out, errs, code := e.run("start", "--yes", "t", "--", "-c", "true")
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if code == 0 || out != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], "bottle: ") || !strings.Contains(lines[0], id) || !strings.Contains(lines[0], e.workdir) {
		t.Errorf("a second start beside %s: exit %d, stdout %q, stderr:\n%s", id, code, out, errs)
	}
	e.mustRun("rm", id)
	e.assertClean()
}

// An agent started detached with no terminal, reading its input, runs on
// after every attach ends, as attach says: one with no stdin that is
// interrupted, and one whose input is detached with ctrl-p ctrl-q; a
// later attach still reaches it, and its input ending (the person's) ends
// the agent's. Podman's conmon closes a container's stdin when any attach
// ends: the agent's shell read its end and exited (this test failed so).
func TestDetachedAgentWithoutTerminalRunsOnAfterAttaches(t *testing.T) {
	e := newEnv(t, "")
	// It ticks, so an attach shows it is up, and answers each line.
	id := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c",
		`(while :; do echo tick; sleep 0.2; done) & while read l; do echo "got $l"; done; kill $!; echo ended`))
	attach := func(args ...string) (*exec.Cmd, io.WriteCloser, <-chan string, *bytes.Buffer) {
		cmd := e.command(append([]string{"attach"}, args...)...)
		var in io.WriteCloser
		if args[0] != "--no-stdin" {
			in, _ = cmd.StdinPipe()
		}
		out, _ := cmd.StdoutPipe()
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1000)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		return cmd, in, lines, &errb
	}
	await := func(lines <-chan string, want string) bool {
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return false
				}
				if l == want {
					return true
				}
			case <-timeout:
				return false
			}
		}
	}
	// An attach with no stdin, interrupted once it is up.
	cmd, _, lines, errb := attach("--no-stdin", id)
	if !await(lines, "tick") {
		t.Fatalf("the attach showed nothing of the agent: %s", errb)
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(errb.String(), "which runs on") {
		t.Errorf("an interrupted attach: exit %d: %s", code, errb)
	}
	// An attach that is given a line, then detaches.
	cmd, in, lines, errb := attach(id)
	io.WriteString(in, "one\n")
	if !await(lines, "got one") {
		t.Fatalf("the agent did not answer the second attach: stderr %s; logs %s", errb, e.mustRun("logs", id))
	}
	in.Write([]byte{0x10, 0x11})
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(errb.String(), "which runs on") {
		t.Errorf("a detach: exit %d: %s", code, errb)
	}
	// Seconds on (conmon closes the input at once), it still reads, and
	// the person's input ending ends it.
	time.Sleep(3 * time.Second)
	cmd, in, lines, errb = attach(id)
	io.WriteString(in, "two\n")
	in.Close()
	if !await(lines, "got two") || !await(lines, "ended") {
		t.Errorf("the last attach: stderr %s; logs %s", errb, e.mustRun("logs", id))
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the last attach: exit %d, want the agent's 0: %s", code, errb)
	}
	if logs := e.mustRun("logs", id); strings.Contains(logs, "ended") && strings.Index(logs, "ended") < strings.Index(logs, "got two") {
		t.Errorf("the agent's input ended before the last attach:\n%s", logs)
	}
	e.mustRun("rm", id)
	e.assertClean()
}

// An agent with no terminal that closed its input takes nothing an attach
// types, and the attach still reads the person's keys: ctrl-p ctrl-q
// detach, the agent running on.
func TestAttachDetachesFromAnAgentThatClosedItsInput(t *testing.T) {
	e := newEnv(t, "")
	id := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c", `exec 0<&-; while :; do echo tick; sleep 0.2; done`))
	e.detachAfter(id, "an agent that closed its input", func(in io.Writer) {
		// Lines the agent's input cannot take (the first ends its relay, the
		// second finds nothing reading the pipe), then the keys.
		io.WriteString(in, "unread\n")
		time.Sleep(2 * time.Second)
		io.WriteString(in, "unread too\n")
		time.Sleep(2 * time.Second)
	})
	if ls := e.mustRun("ls"); !strings.Contains(ls, id) || !strings.Contains(ls, "running") {
		t.Errorf("the agent did not run on after the detach:\n%s", ls)
	}
	e.mustRun("rm", id)
	e.assertClean()
}

// detachAfter attaches to the bottle id, once the agent's tick shows,
// types what typing writes, then ctrl-p ctrl-q: the attach must end within
// 30 s, exit 0, saying the agent runs on (what is an agent that ...).
func (e *env) detachAfter(id, what string, typing func(io.Writer)) {
	t := e.t
	t.Helper()
	cmd := e.command("attach", id)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ticks := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "tick" {
				select {
				case ticks <- true:
				default:
				}
			}
		}
	}()
	select {
	case <-ticks:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("attach showed nothing of the agent: %s", errb.String())
	}
	typing(in)
	in.Write([]byte{0x10, 0x11})
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-ended
		t.Fatalf("ctrl-p ctrl-q did not detach from %s: %s", what, errb.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(errb.String(), "which runs on") {
		t.Errorf("a detach: exit %d: %s", code, errb.String())
	}
}

// Under gVisor no relay keeps an agent's input across attaches (it shares
// no pipe with the host): an attach that ends never says the agent runs
// on when the engine closed its input; it says so, or passes on the exit
// of the agent that read its end.
func TestAttachUnderGVisorSaysTheInputIsClosed(t *testing.T) {
	e := newEnv(t, "\n[agents.g]\nextends = \"t\"\nruntime = \"runsc\"\n")
	id := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "g", "--", "-c",
		`(while :; do echo tick; sleep 0.2; done) & while read l; do echo "got $l"; done; kill $!; echo ended`))
	cmd := e.command("attach", "--no-stdin", id)
	out, _ := cmd.StdoutPipe()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "tick" {
		t.Fatalf("the attach showed nothing of the agent: %q %s", sc.Text(), errb.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	go io.Copy(io.Discard, out)
	cmd.Wait()
	if strings.Contains(errb.String(), "which runs on") {
		t.Errorf("attach said the agent runs on, its input closed: %s", errb.String())
	}
	if !strings.Contains(errb.String(), "the engine closed its agent's input") && cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("an interrupted attach under gVisor: exit %d: %s", cmd.ProcessState.ExitCode(), errb.String())
	}
	e.mustRun("rm", id)
	e.assertClean()
}

// An agent can end the relay of its input (kill its copier, which runs as
// its user): an attach's feed then finds no reader at the input pipe and
// waits for one, never ending. The person's lines meanwhile must not keep
// the attach from reading ctrl-p ctrl-q.
func TestAttachDetachesFromAnAgentThatKilledItsRelay(t *testing.T) {
	e := newEnv(t, "")
	kill := `for p in /proc/[0-9]*; do case "$(tr '\0' ' ' < $p/cmdline 2>/dev/null)" in *stdin-cop[y]*) kill -9 ${p#/proc/};; esac; done`
	id := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c", kill+`; while :; do echo tick; sleep 0.2; done`))
	e.detachAfter(id, "an agent that killed its input's relay", func(in io.Writer) {
		// A person's lines, one read at a time, none taken, then the keys.
		for range 40 {
			io.WriteString(in, "anyone there?\n")
			time.Sleep(20 * time.Millisecond)
		}
	})
	e.mustRun("rm", id)
	e.assertClean()
}
