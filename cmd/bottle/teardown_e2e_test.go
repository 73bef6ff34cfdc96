//go:build e2e

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/bottle-sandbox/bottle/lifecycle"
)

// runNow runs bottle at once, whatever teardown of an earlier session is
// under way, and returns its stdout, stderr and exit code.
func (e *env) runNow(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := e.commandNow(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		e.t.Fatalf("run bottle %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// The agent's exit code comes back once the workspace is settled, the rest
// of the teardown going on in a process of its own (bottle teardown), which
// leaves nothing. Whatever the person runs next finds the bottle as its
// session left it, at once: git metadata the agent planted is out of the
// workspace, a kept bottle is listed kept and resumes (a resume waits for
// the teardown), and bottle rm removes it all. Nothing here depends on
// whether the teardown is still under way or done: the lifecycle's unit
// tests take its states one by one (teardown_test.go).
func TestTheTeardownGoesOnAfterTheExitCode(t *testing.T) {
	e := newEnv(t, "")
	_, errs, code := e.runNow("start", "--yes", "t", "--", "-c", "mkdir -p /workspace/sub/.git/objects /workspace/sub/.git/refs && echo 'ref: refs/heads/main' > /workspace/sub/.git/HEAD; exit 7")
	if code != 7 {
		t.Fatalf("start: exit %d, want the agent's 7: %s", code, errs)
	}
	if _, err := os.Lstat(filepath.Join(e.workdir, "sub", ".git")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the git metadata the agent planted is in the workspace when start returns: %v", err)
	}
	m := regexp.MustCompile(`bottle resume (t-[0-9a-z]{5})`).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("a bottle whose agent planted git metadata is kept, and start says how to carry on: %s", errs)
	}
	id := m[1]
	out, errs, code := e.runNow("ls", "--json")
	var rows []lifecycle.Row
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) != 1 || rows[0].Identity != id || rows[0].Status != lifecycle.StatusKept {
		t.Errorf("ls at once: exit %d %v: %s%s", code, err, out, errs)
	}
	if _, errs, code := e.runNow("resume", "--yes", "--reviewed", id, "--", "-c", "exit 0"); code != 0 {
		t.Fatalf("resume at once: exit %d: %s", code, errs)
	}
	e.awaitTeardowns()
	if p, c := e.pods(), e.containers(); len(p) != 0 || len(c) != 0 {
		t.Errorf("the kept bottle's session left pods %v, containers %v", p, c)
	}
	e.mustRun("rm", id)
	e.assertClean()

	_, errs, code = e.runNow("start", "--yes", "t", "--", "-c", "exit 3")
	if code != 3 {
		t.Fatalf("start: exit %d, want 3: %s", code, errs)
	}
	// The next start in the same folder goes ahead at once: an ending
	// session has no agent to be alone from.
	if _, errs, code := e.runNow("start", "--yes", "t", "--", "-c", "exit 0"); code != 0 {
		t.Errorf("the next start at once: exit %d: %s", code, errs)
	}
	e.assertClean()
}
