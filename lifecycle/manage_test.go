package lifecycle

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// podInfo is what an engine reports of a bottle's pod whose agent is in
// the state given.
func podInfo(id, status, agentState string) spec.PodInfo {
	return spec.PodInfo{Name: spec.PodName(id), Identity: id, Agent: "t", Status: status, Created: time.Unix(1, 0),
		Containers: map[string]string{agent.Service: agentState}}
}

// managed is a state root with a bottle of each kind: kept, running,
// finished (its agent ended, no command holds it), stale (no pod, not
// kept), and a pod whose state is gone.
func managed(t *testing.T) (*launchWorld, map[string]string) {
	t.Helper()
	w := newLaunchWorld(t)
	ids := map[string]string{}
	for _, kind := range []string{"kept", "running", "finished", "stale"} {
		b, err := unlocked(w.root.Create("t"))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.WriteMetadata(state.Metadata{Identity: b.ID, Agent: "t", Workdir: w.workdir, Workspace: "copy", StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		ids[kind] = b.ID
	}
	if err := w.root.Bottle(ids["kept"]).Preserve("--keep"); err != nil {
		t.Fatal(err)
	}
	ids["orphan"] = "t-orphn"
	w.eng.pods = []spec.PodInfo{podInfo(ids["running"], "Running", "running"), podInfo(ids["finished"], "Exited", "exited"), podInfo(ids["orphan"], "Running", "running")}
	for _, id := range []string{ids["running"], ids["finished"], ids["orphan"]} {
		w.eng.made[id] = true
	}
	return w, ids
}

func TestListJoinsStateAndEngine(t *testing.T) {
	w, ids := managed(t)
	rows, err := List(context.Background(), w.env())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.Identity] = r.Status
		if r.Identity == ids["orphan"] && (r.State != "" || r.Bottle() != nil) {
			t.Errorf("the orphan has a state folder: %+v", r)
		}
		if r.Identity == ids["finished"] && !r.AgentDone {
			t.Error("the finished bottle's agent is not done")
		}
	}
	want := map[string]string{ids["kept"]: StatusKept, ids["running"]: "running", ids["finished"]: "exited", ids["stale"]: StatusStale, ids["orphan"]: StatusOrphan}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("%s is %q, want %q", id, got[id], st)
		}
	}
}

// A kept bottle reads the same in a listing whether bottle stop left its
// pod stopped or its --keep session's end removed the pod; one that runs
// again (resumed) is running.
func TestListSaysKeptAlike(t *testing.T) {
	w := newLaunchWorld(t)
	ids := map[string]string{}
	for _, kind := range []string{"ended with --keep", "stopped", "resumed"} {
		b, err := unlocked(w.root.Create("t"))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.WriteMetadata(state.Metadata{Identity: b.ID, Agent: "t", Workdir: w.workdir, Workspace: "copy", StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := b.Preserve(kind); err != nil {
			t.Fatal(err)
		}
		ids[kind] = b.ID
	}
	w.eng.pods = []spec.PodInfo{podInfo(ids["stopped"], "Exited", "exited"), podInfo(ids["resumed"], "Running", "running")}
	rows, err := List(context.Background(), w.env())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ids["ended with --keep"]: StatusKept, ids["stopped"]: StatusKept, ids["resumed"]: "running"}
	for _, r := range rows {
		if r.Status != want[r.Identity] {
			t.Errorf("%s is %q, want %q", r.Identity, r.Status, want[r.Identity])
		}
	}
}

func TestGCRemovesWhatNobodyWill(t *testing.T) {
	w, ids := managed(t)
	if err := GC(context.Background(), w.env()); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, b := range w.bottles(t) {
		left = append(left, b.ID)
	}
	slices.Sort(left)
	want := []string{ids["kept"], ids["running"]}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("folders left: %v, want %v", left, want)
	}
	if got := w.eng.left(); !slices.Equal(got, []string{ids["running"]}) {
		t.Errorf("left on the engine: %v", got)
	}
	out := w.stdout.String()
	for _, line := range []string{"removed " + ids["finished"] + " (its agent ended", "removed pod bottle-" + ids["orphan"] + " (its state is gone)", "removed state of " + ids["stale"] + " (its pod is gone)"} {
		if !strings.Contains(out, line) {
			t.Errorf("gc does not say %q:\n%s", line, out)
		}
	}
}

func TestStopKeepsTheBottle(t *testing.T) {
	w, ids := managed(t)
	b := w.root.Bottle(ids["running"])
	if err := Stop(context.Background(), w.env(), b, b.ID); err != nil {
		t.Fatal(err)
	}
	if !b.Preserved() || b.PreserveReason() != "stopped" {
		t.Errorf("a stopped bottle is kept: %v %q", b.Preserved(), b.PreserveReason())
	}
	if slices.Contains(w.eng.left(), b.ID) {
		t.Error("the stopped bottle is still on the engine")
	}
}

func TestRemoveTakesEverything(t *testing.T) {
	w, ids := managed(t)
	for _, kind := range []string{"running", "orphan"} {
		id := ids[kind]
		b, err := Known(context.Background(), w.env(), id)
		if kind == "orphan" {
			// A pod whose state is gone is known only to its engine.
			w.eng.pods = nil
			b, err = nil, nil
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := Remove(context.Background(), w.env(), b, id); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(w.eng.left(), id) {
			t.Errorf("%s is still on the engine", kind)
		}
	}
	if _, err := w.root.Open(ids["running"]); err == nil {
		t.Error("the removed bottle's folder is there")
	}
}

// bottle logs of a name that is no service says so, and names the
// services, whatever runs.
func TestLogsOfAServiceThatIsNone(t *testing.T) {
	w, ids := managed(t)
	var out bytes.Buffer
	err := Logs(context.Background(), w.env(), LogsOf{ID: ids["running"], Service: "proxy", Audit: &out, Stdout: &out, Stderr: &out})
	if err == nil || !strings.Contains(err.Error(), `no service "proxy"`) || !strings.Contains(err.Error(), "agent, egress, gateway, git-gate, supervise") {
		t.Errorf("logs of proxy: %v", err)
	}
}

// A detached bottle whose agent ended while its sidecars run (a pod Podman
// calls degraded) is exited, in bottle's word, as one whose whole pod
// ended is; its sidecars' figures are still there for bottle stats.
func TestListSaysExitedWhenTheAgentEnded(t *testing.T) {
	w := newLaunchWorld(t)
	b, err := unlocked(w.root.Create("t"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteMetadata(state.Metadata{Identity: b.ID, Agent: "t", Workdir: w.workdir, Workspace: "copy", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	w.eng.made[b.ID] = true
	for _, pod := range []spec.PodInfo{podInfo(b.ID, "Degraded", "exited"), podInfo(b.ID, "Exited", "exited")} {
		w.eng.pods = []spec.PodInfo{pod}
		rows, err := List(context.Background(), w.env())
		if err != nil || len(rows) != 1 || rows[0].Status != StatusExited {
			t.Errorf("pod %s, agent exited: %+v, %v; want %q", pod.Status, rows, err, StatusExited)
		}
	}
	w.eng.pods = []spec.PodInfo{podInfo(b.ID, "Degraded", "exited")}
	if st, err := Stats(context.Background(), w.env(), []string{b.ID}); err != nil || len(st) != 1 {
		t.Errorf("stats of a bottle whose sidecars run: %+v, %v", st, err)
	}
}

// bottle logs -f of an audit log ends, as a container's logs -f does, once
// the service writing it is not running (the bottle stopped, or its pod is
// gone), after what the log has: it does not follow a log no one writes.
func TestLogsFollowEndsWithTheService(t *testing.T) {
	w, ids := managed(t)
	for _, id := range []string{ids["kept"], ids["finished"]} {
		b := w.root.Bottle(id)
		if err := os.MkdirAll(b.EgressFolder().Path(), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(b.EgressFolder().Path(), egress.AuditFile), []byte("{\"decision\":\"allow\"}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var out bytes.Buffer
		err := Logs(ctx, w.env(), LogsOf{ID: id, Service: egress.Service, Follow: true, Audit: &out, Stdout: &out, Stderr: &out})
		if ctx.Err() != nil || err != nil || out.String() != "{\"decision\":\"allow\"}\n" {
			t.Errorf("logs -f egress of %s: %v, %q; ended by itself: %v", id, err, out.String(), ctx.Err() == nil)
		}
		cancel()
	}
}

// unlocked is Create's bottle with its lock let go, for tests that only
// need a folder.
func unlocked(b *state.Bottle, l *state.Lock, err error) (*state.Bottle, error) {
	l.Unlock()
	return b, err
}
