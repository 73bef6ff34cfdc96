//go:build e2e

package main

import (
	"bufio"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestFlagsAfterArgumentsOnARealBottle: flags stand after a command's
// arguments, as Podman's and kubectl's do (start's -d was refused, logs'
// -f taken for a service), and what follows "--" reaches the agent
// untouched, a -d there included.
func TestFlagsAfterArgumentsOnARealBottle(t *testing.T) {
	e := newEnv(t, "")
	// sh as pid 1 ignores SIGTERM unless told; $0 is the first word after the script.
	id := strings.TrimSpace(e.mustRun("start", "t", "-d", "--yes", "--", "-c", "trap 'exit 0' TERM; echo \"started $0\"; sleep 600 & wait", "-d"))
	if !regexp.MustCompile(`^t-[0-9a-z]{5}$`).MatchString(id) {
		t.Fatalf("start t -d --yes printed %q, want the identity", id)
	}

	follow := e.command("logs", id, "-f")
	out, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	follow.Stderr = &errb
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		for s := bufio.NewScanner(out); s.Scan(); {
			lines <- s.Text()
		}
	}()
	select {
	case line, ok := <-lines:
		if !ok || line != "started -d" {
			t.Errorf("logs %s -f: first line %q (ended: %t), want \"started -d\"; stderr: %s", id, line, !ok, errb.String())
		}
	case <-time.After(60 * time.Second):
		t.Errorf("logs %s -f printed nothing in a minute; stderr: %s", id, errb.String())
	}
	follow.Process.Kill()
	follow.Wait()

	_, errs, code := e.run("logs", id, "proxy", "-f")
	if code != exitFailure || !strings.Contains(errs, `has no service "proxy" (its services: agent, egress, gateway, git-gate, supervise)`) {
		t.Errorf("logs of a service that is none: code %d, %s", code, errs)
	}
	e.mustRun("stop", id)
	if ls := e.mustRun("ls", "--json"); !strings.Contains(ls, id) || !strings.Contains(ls, `"preserved": true`) {
		t.Errorf("ls after stop: %s", ls)
	}
	e.mustRun("rm", id)
	e.assertClean()
}
