package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

const warmProfile = `
[agents.w]
extends = "t"
warm = 1

[agents.v]
extends = "t"
warm = 1
`

// newWarmWorld is a launch world whose profiles w and v keep one warm
// bottle each; refills records the keeper's calls.
func newWarmWorld(t *testing.T) (*launchWorld, Env, *[]string) {
	t.Helper()
	w := newLaunchWorld(t)
	data, _ := os.ReadFile(w.config)
	os.WriteFile(w.config, append(data, warmProfile...), 0o600)
	env := w.env()
	env.Warmer = w.eng
	refills := &[]string{}
	env.Refill = func(after string) { *refills = append(*refills, after) }
	return w, env, refills
}

// running has the fake engine report the bottles as running pods.
func (w *launchWorld) running(ids ...string) {
	w.eng.pods = nil
	for _, id := range ids {
		w.eng.pods = append(w.eng.pods, spec.PodInfo{Name: spec.PodName(id), Identity: id, Status: "Running", Containers: map[string]string{"egress": "running"}})
	}
}

// stopped has the fake engine report the bottle's pod as stopped.
func (w *launchWorld) stopped(id string) {
	for i := range w.eng.pods {
		if w.eng.pods[i].Identity == id {
			w.eng.pods[i].Status = "Exited"
		}
	}
}

func warmRows(t *testing.T, env Env) []string {
	t.Helper()
	rows, err := List(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rows {
		if r.Warm {
			ids = append(ids, r.Identity+" "+r.Status)
		}
	}
	return ids
}

// A start claims the warm bottle of its profile: the bottle is the warm
// one (its identity), no longer warm from the claim on (its record gone,
// its proxy released before anything of the launch runs), made whole by
// Create in the pod that is there; the keeper is asked to refill.
func TestAStartClaimsAWarmBottleOfItsProfile(t *testing.T) {
	w, env, refills := newWarmWorld(t)
	id, err := MakeWarm(context.Background(), env, w.agent(t, "w"))
	if err != nil {
		t.Fatal(err)
	}
	w.running(id)
	if got := warmRows(t, env); !slices.Equal(got, []string{id + " warm"}) {
		t.Fatalf("warm rows %v, want %s warm", got, id)
	}
	b := w.root.Bottle(id)
	if _, err := os.Stat(filepath.Join(b.EgressDir(), egress.WarmFile)); err != nil {
		t.Fatalf("a warm bottle's proxy is not held back: %v", err)
	}
	if _, err := os.Stat(b.AgentDir()); err == nil {
		t.Error("a warm bottle has an agent's folder: the claim makes it, as a cold start does")
	}
	// The proxy, held back until the claim releases it, then serving.
	ready := []string{filepath.Join(b.EgressDir(), egress.ReadyFile), filepath.Join(b.SuperviseDir(), supervise.ReadyFile)}
	served := make(chan error, 1)
	go func() {
		err := egress.AwaitClaim(context.Background(), b.EgressDir(), ready)
		for _, f := range ready {
			err = errors.Join(err, os.WriteFile(f, []byte("127.0.0.1:1\n"), 0o644))
		}
		served <- err
	}()
	var during []string
	l := w.launch(t, func(l *Launch) {
		l.Agent = w.agent(t, "w")
		l.ShowPreflight = func(_ io.Writer, p Preflight) error {
			during = append(during, p.ID)
			if _, err := b.Record(state.WarmFile); err == nil {
				t.Error("the claimed bottle is still marked warm while its launch runs")
			}
			return nil
		}
	})
	if err := l.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Errorf("the proxy: %v", err)
	}
	if !slices.Equal(during, []string{id}) {
		t.Errorf("the launch ran bottle %v, want the warm %s", during, id)
	}
	if _, err := os.Stat(filepath.Join(b.EgressDir(), egress.WarmFile)); err == nil {
		t.Error("the claimed bottle's proxy was never released")
	}
	want := []string{"warm", "sidecar-image", "image", "create", "create-containers", "start-sidecars", "run", "remove"}
	if got := w.eng.called(); !slices.Equal(got, want) {
		t.Errorf("the engine was asked %v, want %v", got, want)
	}
	if !slices.Equal(*refills, []string{id}) {
		t.Errorf("the keeper was asked to wait for %v, want %s", *refills, id)
	}
	w.check(t, outcome{removed: true})
}

// A warm bottle serves its own profile, as the person's config says it,
// alone: not another profile, not the profile as a working directory's
// bottle.toml changed it, not a dry run, not a resume.
func TestAWarmBottleServesItsOwnProfileAlone(t *testing.T) {
	w, env, _ := newWarmWorld(t)
	id, err := MakeWarm(context.Background(), env, w.agent(t, "w"))
	if err != nil {
		t.Fatal(err)
	}
	w.running(id)
	var ran []string
	show := func(_ io.Writer, p Preflight) error { ran = append(ran, p.ID); return nil }
	for name, mod := range map[string]func(l *Launch){
		"another profile": func(l *Launch) { l.Agent = w.agent(t, "v") },
		"a dry run":       func(l *Launch) { l.Agent, l.DryRun = w.agent(t, "w"), true },
		"a working directory's change": func(l *Launch) {
			os.WriteFile(filepath.Join(w.workdir, "bottle.toml"), []byte("[agents.w]\nmemory = \"128m\"\n"), 0o644)
			defer os.Remove(filepath.Join(w.workdir, "bottle.toml"))
			l.Agent = w.agent(t, "w")
		},
	} {
		ran = nil
		l := w.launch(t, mod)
		l.ShowPreflight = show
		if err := l.Run(context.Background(), env); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(ran) != 1 || ran[0] == id {
			t.Errorf("%s ran %v: the warm bottle %s served it", name, ran, id)
		}
	}
	if got := warmRows(t, env); !slices.Equal(got, []string{id + " warm"}) {
		t.Errorf("warm rows %v, want %s still warm", got, id)
	}
}

// A claim whose plan's egress is not the one made (the record tampered
// with here) removes the warm bottle and starts cold.
func TestAClaimThatDoesNotFitStartsCold(t *testing.T) {
	w, env, _ := newWarmWorld(t)
	id, err := MakeWarm(context.Background(), env, w.agent(t, "w"))
	if err != nil {
		t.Fatal(err)
	}
	b := w.root.Bottle(id)
	rec, _ := readWarm(b)
	rec.Plan.Containers[0].Mounts = rec.Plan.Containers[0].Mounts[1:]
	data, _ := json.Marshal(rec)
	b.WriteRecord(state.WarmFile, data)
	var ran []string
	l := w.launch(t, func(l *Launch) { l.Agent = w.agent(t, "w") })
	l.ShowPreflight = func(_ io.Writer, p Preflight) error { ran = append(ran, p.ID); return nil }
	if err := l.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 1 || ran[0] == id {
		t.Errorf("the launch ran %v, want one cold bottle, not %s", ran, id)
	}
	if !slices.Contains(w.eng.removed, id) {
		t.Errorf("the warm bottle that did not fit was not removed: %v", w.eng.removed)
	}
	w.check(t, outcome{removed: true})
}

// The keeper makes what a pool lacks and recycles what no longer fits: a
// profile changed, a sidecar binary changed, a pool no profile keeps now,
// a pod gone; bottle gc removes a warm bottle whose pod is gone or another
// binary made, and leaves one that fits.
func TestTheKeeperRecyclesWhatNoLongerFits(t *testing.T) {
	w, env, _ := newWarmWorld(t)
	ctx := context.Background()
	keep := func(names ...string) []string {
		t.Helper()
		var agents []*config.Agent
		for _, n := range names {
			agents = append(agents, w.agent(t, n))
		}
		w.stdout.Reset()
		if err := KeepPools(ctx, env, agents); err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(w.stdout.String()), "\n")
	}
	made := keep("w", "v")
	if len(made) != 2 || !strings.HasPrefix(made[0], "made warm bottle ") {
		t.Fatalf("the keeper said %q, want two made", made)
	}
	ids := []string{strings.TrimPrefix(made[0], "made warm bottle "), strings.TrimPrefix(made[1], "made warm bottle ")}
	w.running(ids...)
	if got := keep("w", "v"); len(got) != 1 || got[0] != "" {
		t.Errorf("a full pool: the keeper said %q", got)
	}
	// The profile changes: its pool is recycled and made again.
	data, _ := os.ReadFile(w.config)
	os.WriteFile(w.config, append(data, "\n[agents.w.env]\nNEW = \"1\"\n"...), 0o600)
	got := keep("w", "v")
	if len(got) != 2 || !strings.HasPrefix(got[0], "recycled warm bottle ") || !strings.HasPrefix(got[1], "made warm bottle ") {
		t.Errorf("a changed profile: the keeper said %q, want one recycled, one made", got)
	}
	// v no longer keeps any: its pool goes.
	fresh := strings.TrimPrefix(got[1], "made warm bottle ")
	w.running(ids[1], fresh)
	if got := keep("w"); len(got) != 1 || got[0] != "recycled warm bottle "+ids[1] {
		t.Errorf("a profile that keeps none: the keeper said %q", got)
	}
	// Another sidecar binary (what the containers run): gc removes it; a
	// pod gone: gc removes it.
	other, err := MakeWarm(ctx, env, w.agent(t, "v"))
	if err != nil {
		t.Fatal(err)
	}
	w.running(fresh)
	os.WriteFile(env.Sidecar, []byte("another bottle-sidecar"), 0o755)
	w.stdout.Reset()
	if err := GC(ctx, env); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"removed warm bottle " + fresh + " (another sidecar binary made it)", "removed warm bottle " + other + " (its pod is gone)"} {
		if !strings.Contains(w.stdout.String(), want) {
			t.Errorf("bottle gc said %q, want %q", &w.stdout, want)
		}
	}
	if bs := w.bottles(t); len(bs) != 0 {
		t.Errorf("bottles left: %v", bs)
	}
}

// A warm bottle whose pod stopped (a restart of the machine) is not warm:
// the keeper recycles it and makes another, gc removes it.
func TestAStoppedWarmBottleIsRecycled(t *testing.T) {
	w, env, _ := newWarmWorld(t)
	ctx := context.Background()
	id, err := MakeWarm(ctx, env, w.agent(t, "w"))
	if err != nil {
		t.Fatal(err)
	}
	w.running(id)
	w.stopped(id)
	if got := warmRows(t, env); !slices.Equal(got, []string{id + " exited"}) {
		t.Errorf("warm rows %v, want %s exited", got, id)
	}
	if err := KeepPools(ctx, env, []*config.Agent{w.agent(t, "w")}); err != nil {
		t.Fatal(err)
	}
	if out := w.stdout.String(); !strings.HasPrefix(out, "recycled warm bottle "+id+"\nmade warm bottle ") {
		t.Errorf("the keeper said %q, want %s recycled and another made", out, id)
	}
	other, err := MakeWarm(ctx, env, w.agent(t, "v"))
	if err != nil {
		t.Fatal(err)
	}
	w.running(other)
	w.stopped(other)
	w.stdout.Reset()
	if err := GC(ctx, env); err != nil {
		t.Fatal(err)
	}
	if want := "removed warm bottle " + other + " (its pod is not running)"; !strings.Contains(w.stdout.String(), want) {
		t.Errorf("bottle gc said %q, want %q", &w.stdout, want)
	}
}

// Where the engine starts agents ahead of their go-ahead, a warm bottle's
// agent is made with it: planned for a start from the keeper's folder with
// the profile's own arguments, its home and the CA's copies made for its
// mounts, and recorded; the claim hands the engine that container and its
// own plan's agent (its arguments, this working directory) to refit.
func TestAWarmBottlesAgentMadeAheadIsRefitAtTheClaim(t *testing.T) {
	w, env, _ := newWarmWorld(t)
	w.eng.ahead = true
	t.Chdir(w.workdir)
	id, err := MakeWarm(context.Background(), env, w.agent(t, "w"))
	if err != nil {
		t.Fatal(err)
	}
	w.running(id)
	b := w.root.Bottle(id)
	rec, ok := readWarm(b)
	if !ok || rec.Agent == nil || !rec.Agent.Main || rec.Agent.Stage == "" {
		t.Fatalf("the warm record's agent made ahead: %+v", rec.Agent)
	}
	for _, f := range []string{"home", "ca.pem", "ca-bundle.pem"} {
		if _, err := os.Stat(filepath.Join(b.AgentDir(), f)); err != nil {
			t.Errorf("what the agent made ahead mounts: %v", err)
		}
	}
	ready := []string{filepath.Join(b.EgressDir(), egress.ReadyFile), filepath.Join(b.SuperviseDir(), supervise.ReadyFile)}
	go func() {
		egress.AwaitClaim(context.Background(), b.EgressDir(), ready)
		for _, f := range ready {
			os.WriteFile(f, []byte("127.0.0.1:1\n"), 0o644)
		}
	}()
	l := w.launch(t, func(l *Launch) {
		l.Agent = w.agent(t, "w")
		l.Args = []string{"-c", "echo claimed"}
	})
	if err := l.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if len(w.eng.refits) != 1 {
		t.Fatalf("the engine was asked to refit %d agents, want one", len(w.eng.refits))
	}
	made, want := w.eng.refits[0][0], w.eng.refits[0][1]
	if made.Name != want.Name || !reflect.DeepEqual(made, *rec.Agent) {
		t.Errorf("refit %s as made %+v, want the recorded %+v", made.Name, made, *rec.Agent)
	}
	if !slices.Contains(want.Command, "echo claimed") || slices.Contains(made.Command, "echo claimed") {
		t.Errorf("the commands: made ahead %q, the claim's %q", made.Command, want.Command)
	}
	w.check(t, outcome{removed: true})
}

// A warm gateway mounts the host's credentials file of a subscription
// sign-in as it was when the bottle was made: once the person's CLI has
// replaced that file by a rename (signed in again), the warm bottle holds
// a login that is no longer theirs, and is not claimed; the keeper
// recycles it (found by the attack of 2026-12-06).
func TestAReplacedSigninFileRecyclesThePool(t *testing.T) {
	login := t.TempDir()
	t.Setenv("CLAUDE_CONFIG_DIR", login)
	creds := filepath.Join(login, ".credentials.json")
	write := func(token string) {
		tmp := creds + ".new"
		os.WriteFile(tmp, []byte(`{"claudeAiOauth":{"accessToken":"`+token+`","refreshToken":"r","expiresAt":4102444800000}}`), 0o600)
		if err := os.Rename(tmp, creds); err != nil {
			t.Fatal(err)
		}
	}
	write("first")
	w, env, _ := newWarmWorld(t)
	data, _ := os.ReadFile(w.config)
	os.WriteFile(w.config, append(data, `
[agents.s]
extends = "t"
warm = 1
signin = { agent = "claude", use = "credentials" }
[[agents.s.egress]]
host = "api.anthropic.com"
ports = [443]
`...), 0o600)
	ctx := context.Background()
	id, err := MakeWarm(ctx, env, w.agent(t, "s"))
	if err != nil {
		t.Fatal(err)
	}
	w.running(id)
	write("second") // the person signed in again on the host
	var ran []string
	l := w.launch(t, func(l *Launch) { l.Agent = w.agent(t, "s") })
	l.ShowPreflight = func(_ io.Writer, p Preflight) error { ran = append(ran, p.ID); return nil }
	if err := l.Run(ctx, env); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 1 || ran[0] == id {
		t.Errorf("the start ran %v: it claimed %s, made with the sign-in file the person replaced", ran, id)
	}
	w.stdout.Reset()
	if err := KeepPools(ctx, env, []*config.Agent{w.agent(t, "s")}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.stdout.String(), "recycled warm bottle "+id) {
		t.Errorf("the keeper said %q, want %s recycled", &w.stdout, id)
	}
}

// An engine that cannot make a claimed warm bottle the bottle a cold start
// makes says so (spec.ErrMisfit: a cluster's pod gains no container once
// made, its Secrets hold no secret), when asked to refit it, at its
// Create, or at its Up before the agent's go-ahead: the warm bottle is
// removed, nothing of it is kept, and the start begins again, cold. On an
// engine whose bottles read a copy of their folder (a cluster), the claim
// takes the proxy's warm file from the folder and leaves its release to the
// engine.
func TestAWarmBottleTheEngineCannotFitStartsCold(t *testing.T) {
	for _, at := range []string{"refit", "create", "start-sidecars"} {
		t.Run(at, func(t *testing.T) {
			w, env, _ := newWarmWorld(t)
			w.eng.ahead, w.eng.info.CopyOnly = true, true
			t.Chdir(w.workdir)
			id, err := MakeWarm(context.Background(), env, w.agent(t, "w"))
			if err != nil {
				t.Fatal(err)
			}
			w.running(id)
			w.eng.failOnce[at] = fmt.Errorf("%w: said at %s", spec.ErrMisfit, at)
			var ran []string
			l := w.launch(t, func(l *Launch) { l.Agent, l.Keep = w.agent(t, "w"), true })
			l.ShowPreflight = func(_ io.Writer, p Preflight) error { ran = append(ran, p.ID); return nil }
			if err := l.Run(context.Background(), env); err != nil {
				t.Fatal(err)
			}
			if n := len(ran); n == 0 || ran[n-1] == id || (at != "refit") != (ran[0] == id) {
				t.Errorf("the launch showed %v, want the claim of %s (unless refit said no first), then a cold bottle", ran, id)
			}
			if !slices.Contains(w.eng.removed, id) {
				t.Errorf("the warm bottle that did not fit was not removed: %v", w.eng.removed)
			}
			if _, err := os.Stat(w.root.Bottle(id).Dir); err == nil {
				t.Errorf("the warm bottle that did not fit left its folder (--keep keeps the cold one alone)")
			}
		})
	}
}

// TestKeeperLeavesAStartedAgentTheMachineAWhile: the keeper a claim
// starts refills the pool once the claimed agent runs; it began at once,
// and the refill's pod and containers, made through the same Podman
// service on the same two cores, had the claimed agent's short run end
// 0.1 to 0.2 s later. It now lets a running agent have startedGrace
// first, looking only at the bottle's folder meanwhile (no engine calls
// beside the agent), and goes on at once when the launch is over.
func TestKeeperLeavesAStartedAgentTheMachineAWhile(t *testing.T) {
	w := newLaunchWorld(t)
	b, lock, err := w.root.Create("t")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	if err := b.WriteMetadata(state.Metadata{Identity: b.ID, Agent: "t", Workdir: w.workdir, Workspace: "copy", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	w.eng.pods = []spec.PodInfo{podInfo(b.ID, "Running", "running")}
	t0 := time.Now()
	if err := AwaitStarted(context.Background(), w.env(), b.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took < startedGrace {
		t.Errorf("the keeper went on %s after the agent ran, before its %s", took, startedGrace)
	}
	if w.eng.lists != 1 {
		t.Errorf("the keeper listed the engine's pods %d times while the agent ran (want 1: until it runs)", w.eng.lists)
	}
	// The launch over while the keeper waits out the grace (its teardown
	// handed off): it goes on then.
	startedGrace = time.Hour
	defer func() { startedGrace = time.Second }()
	done := make(chan error, 1)
	go func() { done <- AwaitStarted(context.Background(), w.env(), b.ID, 2*time.Hour) }()
	for w.eng.listed() < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := writeTeardown(b, teardownRecord{Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the keeper still waits for a launch that is over")
	}
}

// The containers run the sidecar binary, not the bottle binary: the
// engine is given it for the sidecar image and the agent's helper, the
// plan names its image, and a warm bottle is made of it too.
func TestTheContainersRunTheSidecarBinary(t *testing.T) {
	w, env, _ := newWarmWorld(t)
	ctx := context.Background()
	if err := w.launch(t, nil).Run(ctx, env); err != nil {
		t.Fatal(err)
	}
	if _, err := MakeWarm(ctx, env, w.agent(t, "w")); err != nil {
		t.Fatal(err)
	}
	if want := []string{env.Sidecar, env.Sidecar}; !slices.Equal(w.eng.exes, want) {
		t.Errorf("Images and Warm were given %q, want %q", w.eng.exes, want)
	}
	ref, err := spec.SidecarRef(env.Sidecar)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range w.eng.plans {
		for _, c := range p.Containers {
			if !c.Main && c.Image.Ref != ref {
				t.Errorf("%s runs %s, want the sidecar binary's image %s", c.Name, c.Image.Ref, ref)
			}
		}
	}
	if len(w.eng.plans) != 2 {
		t.Errorf("the engine was given %d plans, want 2 (the launch's, the warm bottle's)", len(w.eng.plans))
	}
}
