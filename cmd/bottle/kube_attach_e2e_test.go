//go:build e2e

package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/spec"
)

var _ = needs([]string{cluster}, TestKubeAttachInspectAndStats, TestKubeLogsFollowEndsWithTheService)

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
	for _, want := range []string{"bottle " + id + "  (kubernetes", "  status     running\n", "  agent      k\n", "  service    agent     running\n", "  service    egress    running\n", "  service    gateway   running\n"} {
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
	if !slices.ContainsFunc(st[0].Services, func(s spec.ServiceStats) bool { return s.Service == "gateway" }) {
		t.Errorf("stats --json has no row of the gateway: %+v", st[0].Services)
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

// On the cluster, bottle logs -f of a service ends with it, as kubectl
// logs -f and podman logs -f do: the agent's when the agent ends (its pod
// still up), the others' (the gateway's output, the egress audit log) when
// the bottle stops.
func TestKubeLogsFollowEndsWithTheService(t *testing.T) {
	e := kubeEnv(t, "")
	id := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "k", "--", "echo started; read line; echo ending"))
	poll(t, 60*time.Second, "the agent's output", func() bool {
		out, _, _ := e.run("logs", id)
		return strings.Contains(out, "started")
	})
	follow := func(service string) (*exec.Cmd, *bytes.Buffer, chan error) {
		args := []string{"logs", "-f", id}
		if service != "agent" {
			args = append(args, service)
		}
		cmd := e.command(args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ended := make(chan error, 1)
		go func() { ended <- cmd.Wait() }()
		return cmd, &out, ended
	}
	awaitEnd := func(service, after string, cmd *exec.Cmd, out *bytes.Buffer, ended chan error) {
		t.Helper()
		select {
		case err := <-ended:
			if err != nil {
				t.Errorf("logs -f %s: %v: %s", service, err, out)
			}
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			<-ended
			t.Errorf("logs -f %s still follows a minute after %s: %s", service, after, out)
		}
	}

	cmd, out, ended := follow("agent")
	poll(t, 30*time.Second, "logs -f of the agent", func() bool { return strings.Contains(out.String(), "started") })
	attach := e.command("attach", id)
	attach.Stdin = strings.NewReader("go\n")
	attach.Run()
	awaitEnd("agent", "the agent ended", cmd, out, ended)
	if !strings.Contains(out.String(), "ending") {
		t.Errorf("logs -f of the agent missed its last words: %q", out)
	}

	var followers []func()
	for _, service := range []string{"gateway", "egress"} {
		cmd, out, ended := follow(service)
		followers = append(followers, func() { awaitEnd(service, "the bottle stopped", cmd, out, ended) })
	}
	e.mustRun("stop", id)
	for _, f := range followers {
		f()
	}
	e.mustRun("rm", id)
	kubeClean(t, e)
}
