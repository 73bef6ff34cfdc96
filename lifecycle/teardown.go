package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/state"
)

// teardown removes what a launch made, and its state unless it is kept.
//
// Once the agent has ended (Up returned its exit code), nothing of the
// bottle writes the workspace or the agent's git folder any more: only the
// agent's container mounts them, and its processes ended with it. What the
// person may read as soon as the command returns (the workspace, with what
// the agent planted quarantined; the agent's branches in their repository;
// whether the bottle is kept) is settled here, before the exit code goes
// up. The rest (the pod, its sidecars and what they have beside it, then
// the bottle's folder unless kept) is handed off to a process of its own
// (Env.HandOff) that holds the bottle's lock; the folder records it
// (state.TeardownFile), so one that process does not finish is finished
// by the next bottle command or bottle gc (FinishTeardowns). On any other
// way out the agent may still run: the bottle goes first, then the settle,
// all here, as before.
type teardown struct {
	engine   Engine
	root     state.Root
	bottle   *state.Bottle
	stderr   io.Writer
	keep     bool
	lock     *state.Lock
	created  bool // a pod may exist
	detached bool // the bottle runs on: leave it
	exited   bool // the agent ended: nothing of the bottle writes its workspace
	// handOff starts the rest in a process of its own (Env.HandOff); nil:
	// all of it runs here.
	handOff func(ctx context.Context, b *state.Bottle, lock *state.Lock, started func(pid int) error) error
}

func (t *teardown) run(ctx context.Context) {
	defer t.lock.Unlock()
	if t.detached {
		return
	}
	removed := false
	if t.created {
		settle := t.exited
		if !t.exited {
			// The agent may still run: it goes before its workspace is read.
			err := t.engine.Remove(ctx, t.bottle.ID)
			t.report(err)
			removed, settle = true, err == nil
		}
		if settle {
			t.report(Settle(ctx, t.bottle, t.stderr))
		}
	}
	if t.keep && t.created {
		t.report(t.bottle.Preserve("--keep"))
	}
	kept := t.bottle.Preserved()
	if kept {
		fmt.Fprintf(t.stderr, "bottle: state kept; carry on with: bottle resume %s\n", t.bottle.ID)
	}
	if t.created && !removed {
		if t.handedOff(ctx) {
			return
		}
		t.report(t.engine.Remove(ctx, t.bottle.ID))
	}
	if !kept {
		t.report(t.bottle.Remove())
	}
}

func (t *teardown) report(err error) {
	if err != nil {
		termtext.Fprintf(t.stderr, "bottle: %v\n", err)
	}
}

// teardownRecord is what a bottle's folder says of a teardown handed off.
type teardownRecord struct {
	PID   int       `json:"pid,omitempty"` // the process it was handed to, once started
	Since time.Time `json:"since"`
}

func writeTeardown(b *state.Bottle, r teardownRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.WriteRecord(state.TeardownFile, append(data, '\n'))
}

// pendingTeardown says whether the bottle's folder records a teardown
// that was handed off and is not done.
func pendingTeardown(b *state.Bottle) bool {
	_, err := b.Record(state.TeardownFile)
	return err == nil
}

// handedOff hands the rest of the teardown to a process of its own: the
// folder records it first, so that whatever becomes of the process the
// teardown is found and finished. False: it runs here.
func (t *teardown) handedOff(ctx context.Context) bool {
	if t.handOff == nil {
		return false
	}
	rec := teardownRecord{Since: time.Now().UTC()}
	if err := writeTeardown(t.bottle, rec); err != nil {
		slog.Debug("teardown here", "identity", t.bottle.ID, "error", err)
		return false
	}
	err := t.handOff(ctx, t.bottle, t.lock, func(pid int) error {
		rec.PID = pid
		return writeTeardown(t.bottle, rec)
	})
	if err != nil {
		slog.Debug("teardown here", "identity", t.bottle.ID, "error", err)
		t.report(t.bottle.RemoveRecord(state.TeardownFile))
		return false
	}
	slog.Debug("teardown handed off", "identity", t.bottle.ID, "pid", rec.PID)
	return true
}

// finish is the part of a teardown that is handed off: the bottle's pod
// and what it has beside it go, then its folder unless it is kept. The
// caller holds the bottle's lock.
func finish(ctx context.Context, env Env, b *state.Bottle) error {
	if err := env.Engine.Remove(ctx, b.ID); err != nil {
		return err
	}
	if b.Preserved() {
		return b.RemoveRecord(state.TeardownFile)
	}
	return removeKeepingQuarantine(env.Root, b, env.Stderr)
}

// Finish is a teardown handed off (Env.HandOff), in the process it was
// handed to, holding the bottle's lock until it is done.
func Finish(ctx context.Context, env Env, b *state.Bottle, lock *state.Lock) error {
	defer lock.Unlock()
	if !pendingTeardown(b) {
		return nil
	}
	return finish(context.WithoutCancel(ctx), env, b)
}

// FinishTeardowns finishes the teardowns whose process ended before they
// were done (killed): every bottle command does this first, and bottle
// gc. A teardown whose process still runs (it holds the bottle's lock) is
// left to it. It returns the bottles it finished.
func FinishTeardowns(ctx context.Context, env Env) ([]string, error) {
	bottles, err := env.Root.List()
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, b := range bottles {
		if !pendingTeardown(b) {
			continue
		}
		lock, err := b.Lock()
		if err != nil {
			continue // its process is at it
		}
		if pendingTeardown(b) {
			if err := finish(context.WithoutCancel(ctx), env, b); err != nil {
				errs = append(errs, fmt.Errorf("finish the teardown of %s: %w", b.ID, err))
			} else {
				done = append(done, b.ID)
			}
		}
		lock.Unlock()
	}
	return done, errors.Join(errs...)
}

// teardownWait bounds how long a command about a bottle waits for its
// session's teardown to be done by the process it was handed to.
const teardownWait = 2 * time.Minute

// awaitTeardown waits until a teardown handed off of b is done, finishing
// it when its process ended first, so that a command about the bottle
// (resume, stop, rm) finds it as its session left it.
func awaitTeardown(ctx context.Context, env Env, b *state.Bottle) error {
	if b == nil {
		return nil
	}
	deadline := time.Now().Add(teardownWait)
	for pendingTeardown(b) {
		if lock, err := b.Lock(); err == nil {
			defer lock.Unlock()
			if !pendingTeardown(b) {
				return nil
			}
			return finish(context.WithoutCancel(ctx), env, b)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bottle %s: its last session's teardown is still under way after %s (bottle ls shows it ending)", b.ID, teardownWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
