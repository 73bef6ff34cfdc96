package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/state"
)

// A session's teardown handed off to a process of its own (Env.HandOff)
// is a state machine on the bottle's folder: the folder records it and
// that process's id, the process holds the bottle's lock, and one that
// ends before it is done (killed) leaves the record, which the next bottle
// command (FinishTeardowns) or bottle gc finishes. The stand-in for the
// handed-off process here does nothing and is killed: what the test sees
// finished is the finishing, from a teardown that did none of its part.

// stuckHandOff is an Env.HandOff whose process holds the lock and does
// nothing until killed; it returns the processes it started.
func stuckHandOff(t *testing.T) (func(context.Context, *state.Bottle, *state.Lock, func(int) error) error, *[]*exec.Cmd) {
	var cmds []*exec.Cmd
	t.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	})
	return func(_ context.Context, _ *state.Bottle, lock *state.Lock, started func(int) error) error {
		cmd := exec.Command("sleep", "600")
		cmd.ExtraFiles = []*os.File{lock.File()}
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds = append(cmds, cmd)
		return started(cmd.Process.Pid)
	}, &cmds
}

// recordedPID is the process the bottle's folder says its teardown went to.
func recordedPID(t *testing.T, b *state.Bottle) int {
	t.Helper()
	data, err := b.Record(state.TeardownFile)
	if err != nil {
		t.Fatalf("no teardown recorded: %v", err)
	}
	var rec teardownRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.PID == 0 {
		t.Fatalf("the teardown record %s: %v", data, err)
	}
	return rec.PID
}

// folderFiles are the names in a bottle's folder, the lock file aside.
func folderFiles(t *testing.T, b *state.Bottle) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(b.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.Dir, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestATeardownWhoseProcessIsKilledIsFinished(t *testing.T) {
	finishers := map[string]func(ctx context.Context, env Env) error{
		"the next bottle command": func(ctx context.Context, env Env) error {
			_, err := FinishTeardowns(ctx, env)
			return err
		},
		"bottle gc": GC,
	}
	for _, keep := range []bool{false, true} {
		for name, finisher := range finishers {
			t.Run(name+" keep="+strconv.FormatBool(keep), func(t *testing.T) {
				w := newLaunchWorld(t)
				w.eng.exitCode = 3
				env := w.env()
				var cmds *[]*exec.Cmd
				env.HandOff, cmds = stuckHandOff(t)
				err := w.launch(t, func(l *Launch) { l.Keep = keep }).Run(context.Background(), env)
				var code ExitError
				if !errors.As(err, &code) || code != 3 {
					t.Fatalf("the agent's exit: %v", err)
				}
				bs := w.bottles(t)
				if len(bs) != 1 {
					t.Fatalf("bottles: %v", bs)
				}
				b := bs[0]
				// Handed off: the engine still has the bottle, its folder says
				// so, and the process holds it.
				if got := w.eng.left(); !slices.Equal(got, []string{b.ID}) {
					t.Fatalf("on the engine once the exit code is back: %v", got)
				}
				pid := recordedPID(t, b)
				if pid != (*cmds)[0].Process.Pid {
					t.Errorf("recorded process %d, handed to %d", pid, (*cmds)[0].Process.Pid)
				}
				if !b.InUse() {
					t.Error("the handed-off teardown does not hold the bottle")
				}
				if keep != b.Preserved() {
					t.Errorf("kept: %v, want %v, before the exit code is back", b.Preserved(), keep)
				}
				rows, err := List(context.Background(), env)
				want := StatusEnding
				if keep {
					want = StatusKept
				}
				if err != nil || len(rows) != 1 || rows[0].Status != want {
					t.Errorf("bottle ls while it ends: %+v %v, want %s", rows, err, want)
				}
				// While its process runs, nothing else touches it.
				if err := finisher(context.Background(), env); err != nil {
					t.Fatal(err)
				}
				if got := w.eng.left(); len(got) != 1 || len(w.bottles(t)) != 1 {
					t.Fatalf("a teardown whose process runs was taken over: engine %v, folders %v", got, w.bottles(t))
				}
				// Killed, by the id its record gives.
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				(*cmds)[0].Wait()
				if err := finisher(context.Background(), env); err != nil {
					t.Fatal(err)
				}
				w.check(t, outcome{removed: true, kept: keep})
				if keep {
					// As a teardown done at once leaves a kept bottle's folder.
					once := newLaunchWorld(t)
					if err := once.launch(t, func(l *Launch) { l.Keep = true }).Run(context.Background(), once.env()); err != nil {
						t.Fatal(err)
					}
					if got, want := folderFiles(t, b), folderFiles(t, once.bottles(t)[0]); !slices.Equal(got, want) {
						t.Errorf("the kept folder, finished: %v\nteardown done at once: %v", got, want)
					}
					if r := b.PreserveReason(); r != "--keep" {
						t.Errorf("kept for %q", r)
					}
				}
			})
		}
	}
}

// What the person reads as soon as the exit code is back is settled
// before it is: git metadata the agent planted in a bind workspace is
// quarantined before the teardown is handed off, while the rest of the
// bottle still runs.
func TestTheWorkspaceIsSettledBeforeTheExitCode(t *testing.T) {
	w := buildWorld(t, t.TempDir(), true)
	planted := filepath.Join(w.workdir, "docs", ".git")
	w.eng.running = func() {
		os.MkdirAll(filepath.Join(w.workdir, "docs"), 0o755)
		run(t, filepath.Join(w.workdir, "docs"), "git", "init", "-q", "--template=", "-b", "main")
	}
	stuck, _ := stuckHandOff(t)
	handedOff := false
	w.env.HandOff = func(ctx context.Context, b *state.Bottle, lock *state.Lock, started func(int) error) error {
		handedOff = true
		if _, err := os.Lstat(planted); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the planted git metadata is in the workspace at the hand-off: %v", err)
		}
		if got := w.eng.left(); !slices.Equal(got, []string{b.ID}) {
			t.Errorf("on the engine at the hand-off: %v", got)
		}
		return stuck(ctx, b, lock, started)
	}
	l := &Launch{Agent: w.agent, Workdir: w.workdir, Yes: true, ShowPreflight: noPreflight}
	if err := l.Run(context.Background(), w.env); err != nil {
		t.Fatal(err)
	}
	if !handedOff {
		t.Fatal("the teardown was not handed off")
	}
	bs, _ := w.root.List()
	if len(bs) != 1 || !bs[0].Preserved() {
		t.Fatalf("a bottle whose agent planted git metadata is kept: %v", bs)
	}
	if entries, _ := os.ReadDir(bs[0].QuarantineDir()); len(entries) == 0 {
		t.Error("nothing in the quarantine")
	}
}

// A hand-off that fails (no process could be started) leaves the
// teardown to this process, which does all of it.
func TestATeardownThatCannotBeHandedOffIsDoneHere(t *testing.T) {
	w := newLaunchWorld(t)
	env := w.env()
	env.HandOff = func(context.Context, *state.Bottle, *state.Lock, func(int) error) error {
		return errors.New("no process")
	}
	if err := w.launch(t, nil).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	w.check(t, outcome{removed: true})
}

// A bind start refuses to run beside a bottle of the same working
// directory that a bottle command holds (alone), but a session that is
// ending (its teardown handed off, its agent gone) is no such bottle: a
// person's next start in the same folder goes ahead at once.
func TestABindStartGoesAheadBesideASessionThatIsEnding(t *testing.T) {
	w := buildWorld(t, t.TempDir(), true)
	w.env.HandOff, _ = stuckHandOff(t)
	l := &Launch{Agent: w.agent, Workdir: w.workdir, Yes: true, ShowPreflight: noPreflight}
	if err := l.Run(context.Background(), w.env); err != nil {
		t.Fatal(err)
	}
	bs, _ := w.root.List()
	if len(bs) != 1 || !bs[0].InUse() || !pendingTeardown(bs[0]) {
		t.Fatalf("the first session is not ending: %v", bs)
	}
	next := &Launch{Agent: w.agent, Workdir: w.workdir, Yes: true, DryRun: true, ShowPreflight: noPreflight}
	if err := next.Run(context.Background(), w.env); err != nil {
		t.Errorf("the next start beside an ending session: %v", err)
	}
}

// A start that claimed a warm bottle ends as a cold one does: its
// teardown handed off, finished by the next command once that process
// is killed.
func TestAClaimedWarmBottleHandsOffItsTeardown(t *testing.T) {
	w, env, _ := newWarmWorld(t)
	id, err := MakeWarm(context.Background(), env, w.agent(t, "w"))
	if err != nil {
		t.Fatal(err)
	}
	w.running(id)
	b := w.root.Bottle(id)
	go func() { // the proxy, serving once the claim releases it
		ready := []string{filepath.Join(b.EgressDir(), egress.ReadyFile), filepath.Join(b.SuperviseDir(), supervise.ReadyFile)}
		if egress.AwaitClaim(context.Background(), b.EgressDir(), ready) == nil {
			for _, f := range ready {
				os.WriteFile(f, []byte("127.0.0.1:1\n"), 0o644)
			}
		}
	}()
	var cmds *[]*exec.Cmd
	env.HandOff, cmds = stuckHandOff(t)
	if err := w.launch(t, func(l *Launch) { l.Agent = w.agent(t, "w") }).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if len(*cmds) != 1 || recordedPID(t, b) != (*cmds)[0].Process.Pid {
		t.Fatalf("the claimed bottle's teardown was not handed off: %d processes", len(*cmds))
	}
	(*cmds)[0].Process.Kill()
	(*cmds)[0].Wait()
	w.eng.pods = nil
	if _, err := FinishTeardowns(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	w.check(t, outcome{removed: true})
}
