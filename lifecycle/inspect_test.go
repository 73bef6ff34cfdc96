package lifecycle

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
)

// Inspect gathers a bottle's record, its services' states (agent first),
// the routes its egress enforces (the secret's value never: the header it
// goes in), its gate's remotes, the routes a person approved, every
// decision, and what is pending. Stats samples running bottles only, and
// says a stopped one is not running, in a bottle's terms.
func TestInspectAndStats(t *testing.T) {
	t.Setenv("BOTTLE_HARNESS_KEY", "s3cret-value")
	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
	id := w.b.ID
	running := podInfo(id, "Running", "running")
	running.Containers[egress.Service] = "running"
	w.eng.pods = []spec.PodInfo{running}
	w.eng.made[id] = true

	r1, r2 := supervise.NewID(), supervise.NewID()
	if err := recordApproved(w.b, ApprovedRoute{Request: r1, By: "ann", At: time.Now(), Host: "pypi.org", Ports: []int{443}}); err != nil {
		t.Fatal(err)
	}
	store := supervise.Store{Dir: w.b.SuperviseDir(), Log: w.b.ApprovalsLog()}
	for _, id := range []string{r1, r2} {
		if err := store.Create(&supervise.Request{ID: id, Kind: supervise.KindEgress, Host: "pypi.org", Ports: []int{443}, Reason: "pip", Status: supervise.StatusPending, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Decide(r1, supervise.StatusApproved, "", "ann"); err != nil {
		t.Fatal(err)
	}

	in, err := Inspect(context.Background(), w.env, id)
	if err != nil {
		t.Fatal(err)
	}
	if in.Record == nil || in.Record.Agent != "h" || in.Bottle.Status != "running" || in.Kept != "--keep" {
		t.Errorf("record %+v, row %+v, kept %q", in.Record, in.Bottle, in.Kept)
	}
	if want := []ServiceState{{agent.Service, "running"}, {egress.Service, "running"}}; !slices.Equal(in.Services, want) {
		t.Errorf("services %v, want %v", in.Services, want)
	}
	var hosts []string
	for _, r := range in.Routes {
		hosts = append(hosts, r.Host)
		if strings.Contains(r.Value, "s3cret") {
			t.Errorf("a route carries the secret's value: %+v", r)
		}
	}
	if !slices.Contains(hosts, "api.example.com") {
		t.Errorf("routes %v: want the profile's", hosts)
	}
	if len(in.Git) != 1 || in.Git[0].Name != "origin" {
		t.Errorf("git %+v", in.Git)
	}
	if len(in.Approved) != 1 || in.Approved[0].Host != "pypi.org" || len(in.Approvals) != 1 || in.Approvals[0].Request != r1 ||
		in.Approvals[0].By != "ann" || !slices.ContainsFunc(in.Pending, func(r *supervise.Request) bool { return r.ID == r2 }) ||
		slices.ContainsFunc(in.Pending, func(r *supervise.Request) bool { return r.ID == r1 }) {
		t.Errorf("approved %+v, approvals %+v, pending %d", in.Approved, in.Approvals, len(in.Pending))
	}

	st, err := Stats(context.Background(), w.env, nil)
	if err != nil || len(st) != 1 || st[0].Identity != id || len(st[0].Services) != 2 || st[0].Services[0].Service != agent.Service ||
		st[0].Services[0].MemoryLimit != 256<<20 {
		t.Fatalf("stats of every running bottle: %+v, %v", st, err)
	}
	w.eng.pods = []spec.PodInfo{podInfo(id, "Exited", "exited")}
	if st, err := Stats(context.Background(), w.env, nil); err != nil || len(st) != 0 {
		t.Errorf("stats with nothing running: %+v, %v", st, err)
	}
	if _, err := Stats(context.Background(), w.env, []string{id}); err == nil || err.Error() != "bottle "+id+" is not running: bottle resume "+id {
		t.Errorf("stats of a stopped bottle: %v", err)
	}
	if _, err := Stats(context.Background(), w.env, []string{"h-zzzzz"}); err == nil || !strings.Contains(err.Error(), `no bottle "h-zzzzz"`) {
		t.Errorf("stats of no bottle: %v", err)
	}
}

// Attach refuses a bottle that is not running, in a bottle's terms, passes
// the agent's exit code on, and says how to come back when the person
// detaches (the agent running on).
func TestAttach(t *testing.T) {
	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
	id := w.b.ID
	var out, errb strings.Builder
	w.env.Stdout, w.env.Stderr = &out, &errb
	if err := Attach(context.Background(), w.env, id, true); err == nil || err.Error() != "bottle "+id+" is not running: bottle resume "+id {
		t.Errorf("attach to a bottle with no pod: %v", err)
	}
	w.eng.pods = []spec.PodInfo{podInfo(id, "Running", "running")}
	w.eng.made[id] = true
	w.eng.exitCode = 3
	if err := Attach(context.Background(), w.env, id, true); !errors.Is(err, ExitError(3)) || out.String() != "attached to "+id+"\n" {
		t.Errorf("attach: %v, %q", err, out.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Attach(ctx, w.env, id, true); err != nil || errb.String() != "bottle: detached from "+id+", which runs on: bottle attach "+id+"\n" {
		t.Errorf("a detach: %v, %q", err, errb.String())
	}
}
