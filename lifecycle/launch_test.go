package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// The launch's unit tests: every step of a launch and every way out of it,
// against a fake engine. What each way out must leave is said once, in
// outcome: the engine holds nothing of the bottle, unless it runs on
// (detached); its folder is gone, unless it is kept; its lock is let go.

const launchProfile = `
[agents.t]
extends = "shell"
image = "localhost/bottle-base:latest"
workspace = "copy"

[agents.cred]
extends = "t"
[[agents.cred.egress]]
host = "api.example.com"
ports = [443]
credential = { header = "x-key", from_env = "BOTTLE_LAUNCH_TEST_UNSET" }
`

// launchWorld is a state root, a working directory and a profile, with a
// fake engine.
type launchWorld struct {
	dir, workdir, config string
	root                 state.Root
	eng                  *fakeEngine
	stdout, stderr       bytes.Buffer
	asked                int
	answer               error // the person's answer to the preflight
}

func newLaunchWorld(t *testing.T) *launchWorld {
	t.Helper()
	dir := t.TempDir()
	w := &launchWorld{dir: dir, workdir: filepath.Join(dir, "work"), config: filepath.Join(dir, "config.toml"),
		root: state.Root{Dir: filepath.Join(dir, "state")}, eng: newFakeEngine()}
	os.MkdirAll(w.workdir, 0o755)
	os.WriteFile(filepath.Join(w.workdir, "f.txt"), []byte("work\n"), 0o644)
	if err := os.WriteFile(w.config, []byte(launchProfile), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "exe"), []byte("bottle"), 0o755)
	os.WriteFile(filepath.Join(dir, "sidecar"), []byte("bottle-sidecar"), 0o755)
	return w
}

func (w *launchWorld) env() Env {
	return Env{Root: w.root, Engine: w.eng, Stdin: strings.NewReader(""), Stdout: &w.stdout, Stderr: &w.stderr, Version: "test",
		Exe: filepath.Join(w.dir, "exe"), Sidecar: filepath.Join(w.dir, "sidecar"), Ask: func(context.Context, string) error { w.asked++; return w.answer }}
}

func (w *launchWorld) agent(t *testing.T, name string) *config.Agent {
	t.Helper()
	cfg, err := config.Load(config.Sources{User: w.config, Explicit: true, Workdir: filepath.Join(w.workdir, "bottle.toml")})
	if err != nil {
		t.Fatal(err)
	}
	a, err := cfg.Agent(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (w *launchWorld) launch(t *testing.T, mod func(l *Launch)) *Launch {
	l := &Launch{Agent: w.agent(t, "t"), Workdir: w.workdir, Yes: true, ShowPreflight: func(out io.Writer, p Preflight) error {
		fmt.Fprintf(out, "preflight of %s\n", p.ID)
		return nil
	}}
	if mod != nil {
		mod(l)
	}
	return l
}

// bottles are the folders of the state root, by identity.
func (w *launchWorld) bottles(t *testing.T) []*state.Bottle {
	t.Helper()
	bs, err := w.root.List()
	if err != nil {
		t.Fatal(err)
	}
	un, err := w.root.Unfinished()
	if err != nil {
		t.Fatal(err)
	}
	return append(bs, un...)
}

// outcome is what a way out of a launch leaves.
type outcome struct {
	removed bool // the engine was asked to remove the bottle
	kept    bool // its folder stays, preserved
	running bool // it runs on, detached: folder and engine objects stay
}

func (w *launchWorld) check(t *testing.T, want outcome) {
	t.Helper()
	bs := w.bottles(t)
	switch {
	case want.kept || want.running:
		if len(bs) != 1 {
			t.Fatalf("bottles left: %d, want the one", len(bs))
		}
		b := bs[0]
		if b.Preserved() != want.kept {
			t.Errorf("preserved %v, want %v", b.Preserved(), want.kept)
		}
		if b.InUse() {
			t.Error("the bottle's lock is still held")
		}
	case len(bs) != 0:
		t.Errorf("state left: %v", bs)
	}
	left := w.eng.left()
	if want.running {
		if len(left) != 1 {
			t.Errorf("on the engine: %v, want the running bottle", left)
		}
	} else if len(left) != 0 {
		t.Errorf("left on the engine: %v", left)
	}
	if got := len(w.eng.removed) > 0; got != want.removed {
		t.Errorf("removal asked: %v (%v), want %v", got, w.eng.removed, want.removed)
	}
	if len(w.eng.dead) != 0 {
		t.Errorf("called with an ended context: %v", w.eng.dead)
	}
}

func TestLaunchRunsEveryStepInOrder(t *testing.T) {
	w := newLaunchWorld(t)
	if err := w.launch(t, nil).Run(context.Background(), w.env()); err != nil {
		t.Fatal(err)
	}
	want := []string{"sidecar-image", "image", "create", "create-containers", "start-sidecars", "run", "remove"}
	if got := w.eng.called(); !slices.Equal(got, want) {
		t.Errorf("the engine was asked %v, want %v", got, want)
	}
	if !strings.Contains(w.stderr.String(), "preflight of t-") || w.stdout.Len() != 0 {
		t.Errorf("the preflight goes to stderr, nothing to stdout:\nstdout: %s\nstderr: %s", &w.stdout, &w.stderr)
	}
	w.check(t, outcome{removed: true})
}

func TestLaunchReturnsTheAgentsExit(t *testing.T) {
	w := newLaunchWorld(t)
	w.eng.exitCode = 3
	err := w.launch(t, nil).Run(context.Background(), w.env())
	if code := ExitError(0); !errors.As(err, &code) || code != 3 {
		t.Errorf("the agent's exit 3 came back as %v", err)
	}
	w.check(t, outcome{removed: true})
}

func TestLaunchDeclinedLeavesNothing(t *testing.T) {
	w := newLaunchWorld(t)
	w.answer = ErrDeclined
	err := w.launch(t, func(l *Launch) { l.Yes = false }).Run(context.Background(), w.env())
	if !errors.Is(err, ErrDeclined) || w.asked != 1 {
		t.Errorf("declined: %v (asked %d times)", err, w.asked)
	}
	if got := w.eng.called(); len(got) != 0 {
		t.Errorf("the engine was asked %v before the person said yes", got)
	}
	w.check(t, outcome{})
}

func TestLaunchDryRunShowsAndStops(t *testing.T) {
	w := newLaunchWorld(t)
	w.answer = errors.New("a dry run asks nothing")
	if err := w.launch(t, func(l *Launch) { l.DryRun, l.Yes = true, false }).Run(context.Background(), w.env()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.stdout.String(), "preflight of t-") || w.asked != 0 {
		t.Errorf("a dry run prints the preflight on stdout and asks nothing: %q (asked %d)", &w.stdout, w.asked)
	}
	if got := w.eng.called(); !slices.Equal(got, []string{"has-image"}) {
		t.Errorf("a dry run asked the engine %v, want only whether it holds the image", got)
	}
	w.check(t, outcome{})
}

// An error in each step: what was made is removed, the folder goes (or
// stays, kept, once something ran), the error comes back.
func TestLaunchErrorInEachStep(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name    string
		fail    string // an engine operation that fails
		mod     func(l *Launch)
		removed bool
	}{
		{name: "plan", mod: func(l *Launch) {
			l.IsolatedBuild, l.Agent.Image, l.Agent.Containerfile = true, "", "/nonexistent/Containerfile"
		}},
		{name: "preflight", mod: func(l *Launch) {
			l.ShowPreflight = func(io.Writer, Preflight) error { return boom }
		}},
		{name: "prepare", mod: nil}, // the cred profile's credential is not set
		{name: "sidecar image", fail: "sidecar-image"},
		{name: "agent image", fail: "image"},
		{name: "create", fail: "create", removed: true},
		{name: "create containers", fail: "create-containers", removed: true},
		{name: "start sidecars", fail: "start-sidecars", removed: true},
		{name: "run", fail: "run", removed: true},
		{name: "start detached", fail: "start", removed: true, mod: func(l *Launch) { l.Detach = true }},
	}
	for _, keep := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/keep=%v", tc.name, keep), func(t *testing.T) {
				w := newLaunchWorld(t)
				if tc.fail != "" {
					w.eng.fail[tc.fail] = boom
				}
				l := w.launch(t, tc.mod)
				if tc.name == "prepare" {
					l.Agent = w.agent(t, "cred")
				}
				l.Keep = keep
				err := l.Run(context.Background(), w.env())
				if err == nil {
					t.Fatal("the launch went through")
				}
				if tc.fail != "" && !errors.Is(err, boom) {
					t.Errorf("the error: %v", err)
				}
				w.check(t, outcome{removed: tc.removed, kept: keep && tc.removed})
				if keep && tc.removed && !strings.Contains(w.stderr.String(), "bottle: state kept; carry on with: bottle resume ") {
					t.Errorf("a kept bottle's resume is not said:\n%s", &w.stderr)
				}
			})
		}
	}
}

// An interrupt (the context ends) while a step runs: what was made goes
// all the same, through a context of its own.
func TestLaunchInterrupted(t *testing.T) {
	for _, tc := range []struct {
		op      string
		removed bool
	}{{"image", false}, {"start-sidecars", true}, {"run", true}} {
		t.Run(tc.op, func(t *testing.T) {
			w := newLaunchWorld(t)
			w.eng.block[tc.op] = true
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-w.eng.entered
				cancel()
			}()
			err := w.launch(t, nil).Run(ctx, w.env())
			if !errors.Is(err, context.Canceled) {
				t.Errorf("interrupted: %v", err)
			}
			w.check(t, outcome{removed: tc.removed})
			if strings.Contains(w.stderr.String(), "canceled") {
				t.Errorf("the teardown failed on the interrupt:\n%s", &w.stderr)
			}
		})
	}
}

func TestLaunchKept(t *testing.T) {
	w := newLaunchWorld(t)
	if err := w.launch(t, func(l *Launch) { l.Keep = true }).Run(context.Background(), w.env()); err != nil {
		t.Fatal(err)
	}
	w.check(t, outcome{removed: true, kept: true})
	b := w.bottles(t)[0]
	if r := b.PreserveReason(); r != "--keep" {
		t.Errorf("kept for %q", r)
	}
	if !strings.Contains(w.stderr.String(), "bottle: state kept; carry on with: bottle resume "+b.ID) {
		t.Errorf("the resume is not said:\n%s", &w.stderr)
	}
}

func TestLaunchDetached(t *testing.T) {
	w := newLaunchWorld(t)
	if err := w.launch(t, func(l *Launch) { l.Detach = true }).Run(context.Background(), w.env()); err != nil {
		t.Fatal(err)
	}
	w.check(t, outcome{running: true})
	b := w.bottles(t)[0]
	if w.stdout.String() != b.ID+"\n" {
		t.Errorf("a detached start prints its identity alone: %q", &w.stdout)
	}
	want := []string{"sidecar-image", "image", "create", "create-containers", "start-sidecars", "start"}
	if got := w.eng.called(); !slices.Equal(got, want) {
		t.Errorf("the engine was asked %v, want %v", got, want)
	}
}

// An engine that ends with the command cannot keep a detached bottle; an
// engine without the runtime a profile asks for cannot run it. Both are
// said before anything is made.
func TestLaunchRefusedBeforeAnything(t *testing.T) {
	w := newLaunchWorld(t)
	w.eng.info.Ephemeral, w.eng.info.Lasting = "no service is running", "start one"
	if err := w.launch(t, func(l *Launch) { l.Detach = true }).Run(context.Background(), w.env()); err == nil || !strings.Contains(err.Error(), "a detached bottle needs one that outlives this command") {
		t.Errorf("a detached bottle on an ephemeral engine: %v", err)
	}
	w.check(t, outcome{})

	w = newLaunchWorld(t)
	w.eng.fail["check-runtime"] = errors.New("no such runtime")
	l := w.launch(t, nil)
	l.Agent.Runtime = config.RuntimeRunsc
	if err := l.Run(context.Background(), w.env()); err == nil || !strings.Contains(err.Error(), "no such runtime") {
		t.Errorf("a missing runtime: %v", err)
	}
	w.check(t, outcome{})
}

// A kept bottle resumes under its identity: whatever of it still runs goes
// first, it starts again, and it stays kept.
func TestResumeCarriesOn(t *testing.T) {
	w := newLaunchWorld(t)
	if err := w.launch(t, func(l *Launch) { l.Keep = true }).Run(context.Background(), w.env()); err != nil {
		t.Fatal(err)
	}
	b := w.bottles(t)[0]
	first, _ := b.Metadata()
	w.eng = newFakeEngine()
	w.eng.made[b.ID] = true // a stale pod of the bottle
	time.Sleep(10 * time.Millisecond)
	r := &Resume{ID: b.ID, Yes: true, ConfigFile: w.config, ShowPreflight: func(io.Writer, Preflight) error { return nil }}
	if err := r.Run(context.Background(), w.env()); err != nil {
		t.Fatal(err)
	}
	want := []string{"remove", "sidecar-image", "image", "create", "create-containers", "start-sidecars", "run", "remove"}
	if got := w.eng.called(); !slices.Equal(got, want) {
		t.Errorf("the engine was asked %v, want %v", got, want)
	}
	w.check(t, outcome{removed: true, kept: true})
	if m, _ := b.Metadata(); !m.StartedAt.Equal(first.StartedAt) || m.Identity != b.ID {
		t.Errorf("the resume's metadata: %+v, first %+v", m, first)
	}
}

// resume --keep is for a bottle that was not kept (a detached one whose
// agent ended): without it that bottle goes at its session's end, with it
// the bottle stays. A kept bottle stays kept either way (TestResumeCarriesOn).
func TestResumeKeepKeepsABottleThatWasNot(t *testing.T) {
	for _, keep := range []bool{false, true} {
		w := newLaunchWorld(t)
		if err := w.launch(t, func(l *Launch) { l.Keep = true }).Run(context.Background(), w.env()); err != nil {
			t.Fatal(err)
		}
		b := w.bottles(t)[0]
		if err := os.Remove(filepath.Join(b.Dir, state.PreserveFile)); err != nil {
			t.Fatal(err)
		}
		w.eng = newFakeEngine()
		r := &Resume{ID: b.ID, Yes: true, Keep: keep, ConfigFile: w.config, ShowPreflight: func(io.Writer, Preflight) error { return nil }}
		if err := r.Run(context.Background(), w.env()); err != nil {
			t.Fatal(err)
		}
		if left := len(w.bottles(t)) == 1 && b.Preserved(); left != keep {
			t.Errorf("resume --keep=%v: the bottle is kept: %v", keep, left)
		}
	}
}

// A bottle another command holds is not resumed.
func TestResumeOfABottleInUse(t *testing.T) {
	w := newLaunchWorld(t)
	if err := w.launch(t, func(l *Launch) { l.Keep = true }).Run(context.Background(), w.env()); err != nil {
		t.Fatal(err)
	}
	b := w.bottles(t)[0]
	lock, err := b.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	w.eng = newFakeEngine()
	r := &Resume{ID: b.ID, Yes: true, ConfigFile: w.config, ShowPreflight: func(io.Writer, Preflight) error { return nil }}
	if err := r.Run(context.Background(), w.env()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a resume of a bottle in use: %v", err)
	}
	if got := w.eng.called(); len(got) != 0 {
		t.Errorf("the engine was asked %v", got)
	}
	if !b.Preserved() {
		t.Error("the kept bottle is no longer kept")
	}
}

// A bottle whose agent runs (a detached one, which no command holds) is
// not resumed: a resume would remove its pod and end the agent's work.
func TestResumeOfARunningBottle(t *testing.T) {
	w := newLaunchWorld(t)
	if err := w.launch(t, func(l *Launch) { l.Detach = true }).Run(context.Background(), w.env()); err != nil {
		t.Fatal(err)
	}
	b := w.bottles(t)[0]
	w.eng.pods = []spec.PodInfo{podInfo(b.ID, "Running", "running")}
	before := len(w.eng.called())
	r := &Resume{ID: b.ID, Yes: true, Detach: true, ConfigFile: w.config, ShowPreflight: func(io.Writer, Preflight) error { return nil }}
	want := "bottle " + b.ID + " is running: bottle attach " + b.ID
	if err := r.Run(context.Background(), w.env()); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a resume of a running bottle: %v, want %q", err, want)
	}
	if got := w.eng.called()[before:]; len(got) != 0 {
		t.Errorf("the engine was asked %v", got)
	}
	if w.eng.left() == nil {
		t.Error("the running bottle's pod is gone")
	}
}
