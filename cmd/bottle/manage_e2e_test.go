//go:build e2e

package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/spec"
)

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

// A bottle kept by bottle stop and one kept by a --keep session's end are
// listed alike, each with how to carry on; ls -q prints identities alone,
// and rm takes them all at once, a line for each.
func TestLsSaysKeptAlikeAndQuiet(t *testing.T) {
	e := newEnv(t, "")
	stopped := e.startDetached("exec sleep 600")
	e.mustRun("stop", stopped)
	_, errs, code := e.run("start", "--yes", "--keep", "t", "--", "-c", "true")
	m := regexp.MustCompile(`bottle resume (t-[0-9a-z]{5})`).FindStringSubmatch(errs)
	if code != 0 || m == nil {
		t.Fatalf("start --keep: exit %d: %s", code, errs)
	}
	keptAtEnd := m[1]
	ids := []string{stopped, keptAtEnd}

	ls := e.mustRun("ls")
	for _, id := range ids {
		if !regexp.MustCompile(`(?m)^` + id + `\s+t\s+kept \(bottle resume ` + id + `\)\s`).MatchString(ls) {
			t.Errorf("ls does not list %s as kept, with how to carry on:\n%s", id, ls)
		}
	}
	var rows []lifecycle.Row
	if err := json.Unmarshal([]byte(e.mustRun("ls", "--json")), &rows); err != nil || len(rows) != 2 || rows[0].Status != rows[1].Status {
		t.Errorf("ls --json: %+v (%v): want two bottles of one status", rows, err)
	}

	quiet := strings.Fields(e.mustRun("ls", "-q"))
	slices.Sort(quiet)
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(quiet, want) {
		t.Errorf("ls -q printed %q, want the identities %q alone", quiet, want)
	}

	out := e.mustRun("rm", stopped, keptAtEnd)
	if want := "removed " + stopped + "\nremoved " + keptAtEnd + "\n"; out != want {
		t.Errorf("rm of two printed %q, want %q", out, want)
	}
	e.assertClean()
}

// A detached bottle whose agent runs is not resumed (that would remove its
// pod and end the agent): resume says to attach, and the bottle is as it
// was. One whose agent ended is exited in ls, in bottle's word, whatever
// Podman calls its pod (degraded, its sidecars running), and stats still
// has its sidecars' figures.
func TestDetachedBottleRunsOnAndEndsExited(t *testing.T) {
	e := newEnv(t, "")
	id := e.startDetached("exec sleep 600")
	agentID := func() string {
		out, err := exec.Command("podman", "inspect", "--format", "{{.Id}}", spec.ContainerName(id, agent.Service)).CombinedOutput()
		if err != nil {
			t.Fatalf("podman inspect the agent of %s: %v\n%s", id, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	before := agentID()
	_, errs, code := e.run("resume", id, "-d", "--yes")
	if want := "bottle: bottle " + id + " is running: bottle attach " + id; code != 125 || !strings.Contains(errs, want) {
		t.Errorf("resume of a running bottle: exit %d, %q; want 125 and %q", code, errs, want)
	}
	if after := agentID(); after != before {
		t.Errorf("the refused resume replaced the agent's container (%s, was %s)", after, before)
	}
	e.mustRun("rm", id)

	id = e.startDetached("exit 3")
	poll(t, 30*time.Second, "the agent's end", func() bool {
		return regexp.MustCompile(`(?m)^` + id + `\s+t\s+exited\s`).MatchString(e.mustRun("ls"))
	})
	var rows []lifecycle.Row
	if err := json.Unmarshal([]byte(e.mustRun("ls", "--json")), &rows); err != nil || len(rows) != 1 || rows[0].Status != lifecycle.StatusExited {
		t.Errorf("ls --json: %+v (%v): want the bottle exited", rows, err)
	}
	// Its egress runs: figures, or where the engine gives none (rootless
	// Podman on cgroup v1) why, but not that it is not running.
	var st []lifecycle.BottleStats
	if err := json.Unmarshal([]byte(e.mustRun("stats", "--json", id)), &st); err != nil || len(st) != 1 ||
		!slices.ContainsFunc(st[0].Services, func(s spec.ServiceStats) bool {
			return s.Service == "egress" && (s.Memory > 0) != (s.Unavailable != "") && !strings.HasPrefix(s.Unavailable, "not running")
		}) {
		t.Errorf("stats --json of an exited bottle whose sidecars run: %+v (%v)", st, err)
	}
	e.mustRun("rm", id)
	e.assertClean()
}

// bottle logs -f of an audit log ends when the bottle stops, as a
// container's logs -f does, where it followed a log no one writes forever.
func TestLogsFollowEndsWhenTheBottleStops(t *testing.T) {
	e := newEnv(t, "")
	id := e.startDetached("exec sleep 600")
	follow := e.command("logs", "-f", id, "egress")
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- follow.Wait() }()
	e.mustRun("stop", id)
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("logs -f egress: %v", err)
		}
	case <-time.After(time.Minute):
		follow.Process.Kill()
		<-ended
		t.Error("logs -f egress still follows a minute after the bottle stopped")
	}
	e.mustRun("rm", id)
	e.assertClean()
}
