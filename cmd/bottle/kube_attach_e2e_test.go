//go:build e2e

package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/spec"
)

var _ = needs([]string{cluster}, TestKubeAttachInspectAndStats)

// On the cluster, bottle attach joins a detached bottle's agent: what is
// sent reaches it, what it says comes back, its exit code is attach's;
// inspect shows the bottle in its cluster's terms; stats says the engine
// has no figures and where to look, rather than make any up.
func TestKubeAttachInspectAndStats(t *testing.T) {
	e := kubeEnv(t, "")
	id := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "k", "--", `echo started; read line; echo "got $line"; exit 3`))
	poll(t, 60*time.Second, "the agent's output", func() bool {
		out, _, _ := e.run("logs", id)
		return strings.Contains(out, "started")
	})

	out := e.mustRun("inspect", id)
	for _, want := range []string{"bottle " + id + "  (kubernetes", "  status     running\n", "  agent      k\n", "  service    agent     running\n", "  service    egress    running\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	for _, internal := range []string{"hold", "isolate", "state"} {
		if strings.Contains(out, "  service    "+internal+" ") {
			t.Errorf("inspect lists the engine's own %s container as a service:\n%s", internal, out)
		}
	}
	var st []lifecycle.BottleStats
	if err := json.Unmarshal([]byte(e.mustRun("stats", "--json", id)), &st); err != nil || len(st) != 1 || len(st[0].Services) < 2 {
		t.Fatalf("stats --json: %+v %v", st, err)
	}
	for _, s := range st[0].Services {
		if s.Memory != 0 || s.CPU != 0 || !strings.Contains(s.Unavailable, " top pod -l "+spec.LabelIdentity+"="+id+" ") || s.Service == "hold" {
			t.Errorf("service %s: want no figures and where to look, got %+v", s.Service, s)
		}
	}

	cmd := e.command("attach", id)
	cmd.Stdin = strings.NewReader("hello\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 3 || !strings.Contains(stdout.String(), "got hello") {
		t.Errorf("attach: exit %d (%v), stdout %q, stderr %q: want the agent's answer and its exit code 3", code, err, stdout.String(), stderr.String())
	}
	e.mustRun("rm", id)
	kubeClean(t, e)
}
