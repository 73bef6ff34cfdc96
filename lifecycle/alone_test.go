package lifecycle

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// TestBindStartsAloneThroughAnotherPath (attack, issue 19, second round): the first
// round made a bind start refuse to run beside a running bottle whose
// working directory is, holds or lies in its own (else that bottle's agent
// swaps what this start checks, TestSecondBottleCannotSwapANestedMountAfterTheCheck).
// The check compares the two paths as strings. A working directory is the
// shell's $PWD (os.Getwd): one reached through a link of the person's (a
// ~/src that leads to /mnt/data/src, say) names the same folder by
// another path, and the start goes ahead beside the running bottle.
func TestBindStartsAloneThroughAnotherPath(t *testing.T) {
	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
	w.eng.pods = []spec.PodInfo{podInfo(w.b.ID, "Running", "running")}
	alias := filepath.Join(filepath.Dir(w.base), "alias")
	if err := os.Symlink(w.workdir, alias); err != nil {
		t.Fatal(err)
	}
	wd := filepath.Join(alias, "vendor") // the running bottle's vendor/, by the person's other path
	l := &Launch{Agent: w.agent, Workdir: wd, Yes: true, DryRun: true, ShowPreflight: noPreflight}
	err := l.Run(context.Background(), w.env)
	if err == nil || !strings.Contains(err.Error(), w.b.ID) {
		t.Errorf("%s (that is %s) started beside the running bottle %s in %s: %v", wd, filepath.Join(w.workdir, "vendor"), w.b.ID, w.workdir, err)
	}
}

// TestTwoBindStartsInOneFolderAtOnce (attack, found 2026-12-06): alone
// looked only at bottles with metadata, which a start writes well after
// its own check; two bind starts in one folder at once both found
// themselves alone, and each agent could swap what the other's start
// checks. Here the first start has claimed its bottle and passed alone,
// and has not written its metadata yet, when the second checks.
func TestTwoBindStartsInOneFolderAtOnce(t *testing.T) {
	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), true)
	first, err := unlocked(w.root.Create(w.agent.Name))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := first.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	s := &launching{Launch: &Launch{Agent: w.agent, Workdir: w.workdir}, env: w.env, b: first}
	if err := s.alone(context.Background()); err != nil {
		t.Fatalf("the first start, alone in %s: %v", w.workdir, err)
	}
	l := &Launch{Agent: w.agent, Workdir: filepath.Join(w.workdir, "vendor"), Yes: true, DryRun: true, ShowPreflight: noPreflight}
	err = l.Run(context.Background(), w.env)
	if err == nil || !strings.Contains(err.Error(), first.ID) {
		t.Errorf("a second bind start in %s went ahead beside %s, which is starting in %s: %v", l.Workdir, first.ID, w.workdir, err)
	}
	// Once the first start is gone (its lock let go), the folder is free.
	lock.Unlock()
	if err := l.Run(context.Background(), w.env); err != nil {
		t.Errorf("a bind start after the first start ended: %v", err)
	}
}

// TestBindStartAloneAsksTheEngineOnlyAboutOverlaps: a bind start looks
// for a running bottle in, over or under its working directory while it
// holds the state root's binds lock. It asked the engine for every pod
// there, whatever their folders: twenty starts at once, each listing
// through a busy Podman service in turn, waited 20 s on each other. The
// state says which bottles' folders overlap; with none, the engine is not
// asked, and with one it is, and the start is refused as before.
func TestBindStartAloneAsksTheEngineOnlyAboutOverlaps(t *testing.T) {
	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
	w.eng.pods = []spec.PodInfo{podInfo(w.b.ID, "Running", "running")}
	other := filepath.Join(w.base, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		run(t, w.base, "chown", "1000:1000", other)
	}
	w.eng.lists = 0
	l := &Launch{Agent: w.agent, Workdir: other, Yes: true, DryRun: true, ShowPreflight: noPreflight}
	if err := l.Run(context.Background(), w.env); err != nil {
		t.Fatalf("a bind start in %s beside %s in %s: %v", other, w.b.ID, w.workdir, err)
	}
	if w.eng.lists != 0 {
		t.Errorf("a bind start in %s, which overlaps no bottle's folder, listed the engine's pods %d times", other, w.eng.lists)
	}
	l.Workdir = filepath.Join(w.workdir, "vendor")
	err := l.Run(context.Background(), w.env)
	if err == nil || !strings.Contains(err.Error(), w.b.ID) {
		t.Errorf("a bind start in %s went ahead beside the running %s in %s: %v", l.Workdir, w.b.ID, w.workdir, err)
	}
	if w.eng.lists == 0 {
		t.Errorf("a bind start in %s, inside %s's folder, did not ask the engine whether it runs", l.Workdir, w.b.ID)
	}
}

// TestBindStartDoesNotWaitForAnEndingBottlesPod: the last bottle started
// in a folder whose session is ending (its agent exited, its teardown
// handed off, its pod being removed) has no agent any more, and does not
// stop the next start there. That start asked the engine about it all the
// same, under the binds lock: Podman answers a listing only once the pod's
// removal is done, and a start right after the last waited 0.4 to 0.7 s
// for it (--debug: alone). With every overlapping bottle ending, the
// engine is not asked; one whose agent runs is still asked about and
// refused.
func TestBindStartDoesNotWaitForAnEndingBottlesPod(t *testing.T) {
	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
	w.eng.pods = []spec.PodInfo{podInfo(w.b.ID, "Running", "exited")}
	if err := writeTeardown(w.b, teardownRecord{Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	w.eng.lists = 0
	l := &Launch{Agent: w.agent, Workdir: w.workdir, Yes: true, DryRun: true, ShowPreflight: noPreflight}
	if err := l.Run(context.Background(), w.env); err != nil {
		t.Fatalf("a bind start in %s beside the ending %s: %v", w.workdir, w.b.ID, err)
	}
	if w.eng.lists != 0 {
		t.Errorf("a bind start beside the ending %s in the same folder listed the engine's pods %d times", w.b.ID, w.eng.lists)
	}
	// Its teardown done and the bottle resumed, its agent runs: refused.
	if err := w.b.RemoveRecord(state.TeardownFile); err != nil {
		t.Fatal(err)
	}
	w.eng.pods = []spec.PodInfo{podInfo(w.b.ID, "Running", "running")}
	err := l.Run(context.Background(), w.env)
	if err == nil || !strings.Contains(err.Error(), w.b.ID) {
		t.Errorf("a bind start in %s went ahead beside the running %s: %v", l.Workdir, w.b.ID, err)
	}
}
