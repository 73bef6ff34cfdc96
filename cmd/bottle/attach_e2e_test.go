//go:build e2e

package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
