//go:build e2e

package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/spec"
)

// startDetached starts a detached bottle of profile t whose agent runs
// script, and waits for it to have said "started".
func (e *env) startDetached(script string) string {
	e.t.Helper()
	id := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c", "echo started; "+script))
	poll(e.t, 30*time.Second, "the agent's output", func() bool {
		out, _, _ := e.run("logs", id)
		return out == "started\n"
	})
	return id
}

// agentExitCode is the exit code Podman recorded for a bottle's agent.
func agentExitCode(t *testing.T, id string) string {
	t.Helper()
	out, err := exec.Command("podman", "inspect", "--format", "{{.State.ExitCode}}", spec.ContainerName(id, agent.Service)).CombinedOutput()
	if err != nil {
		t.Fatalf("podman inspect the agent of %s: %v\n%s", id, err, out)
	}
	return strings.TrimSpace(string(out))
}

// bottle stop reaches the agent's own process with SIGTERM: an agent that
// sets no handler of its own ends by it (128+15), where, as PID 1 of its
// container, the kernel dropped the signal and Podman killed it when the
// grace period ran out (128+9). stop and rm say what they did. The init
// that hands the signal on keeps the container as it was: every capability
// dropped, and of the host only the init itself, read-only.
func TestStopEndsTheAgentWithSIGTERM(t *testing.T) {
	e := newEnv(t, "")
	out := e.mustRun("start", "--yes", "t", "--", "-c", "grep -h ^Cap /proc/1/status /proc/self/status | sort -u; grep -c ' /run/podman-init ro,' /proc/self/mountinfo; true")
	if want := "CapAmb:\t0000000000000000\nCapBnd:\t0000000000000000\nCapEff:\t0000000000000000\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n1\n"; out != want {
		t.Errorf("the agent's container (its init and the agent) has:\n%s\nwant every capability dropped and the init mounted read-only:\n%s", out, want)
	}

	id := e.startDetached("exec sleep 600") // sleep has no handler for TERM
	out = e.mustRun("stop", id)
	if want := "stopped " + id + " (kept: bottle resume " + id + ")\n"; out != want {
		t.Errorf("stop printed %q, want %q", out, want)
	}
	if code := agentExitCode(t, id); code != "143" {
		t.Errorf("the agent ended with %s after stop, want 143 (SIGTERM; 137 is the SIGKILL when the grace period is over)", code)
	}
	out = e.mustRun("rm", id)
	if want := "removed " + id + "\n"; out != want {
		t.Errorf("rm printed %q, want %q", out, want)
	}
	e.assertClean()
}
