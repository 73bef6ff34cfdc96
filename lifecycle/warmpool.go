package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// KeepPools keeps the warm bottles of the person's profiles (their config's
// alone: a working directory's file cannot set warm): it recycles every
// warm bottle that no longer fits, being of a profile that keeps none now,
// made of another profile, sidecar binary or engine (the pool key), or whose
// pod is gone, and makes what each profile's pool lacks. One keeper works
// at a time (the root's pool lock); a second waits, then finds the pools
// as the first left them. It keeps the pools on env's engine (where new
// bottles go): another engine's warm bottles are that engine's keeper's. What it made and removed it says on env.Stdout.
func KeepPools(ctx context.Context, env Env, agents []*config.Agent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lock, err := env.Root.LockPool()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	ref, err := spec.SidecarRef(env.sidecarExe())
	if err != nil {
		return err
	}
	info := env.Engine.Info()
	want, specs := map[string]int{}, map[string]warmSpec{}
	for _, a := range agents {
		if a.Warm <= 0 || env.Warmer == nil {
			continue
		}
		if specs[a.Name], err = warmSpecOf(a, info, env.Version, ref); err != nil {
			return err
		}
		want[a.Name] = a.Warm
	}
	rows, err := List(ctx, env)
	if err != nil {
		return err
	}
	have := map[string]int{}
	for _, r := range rows {
		b := r.Bottle()
		if !r.Warm || b == nil || b.InUse() {
			continue // not warm, or being made or claimed
		}
		if m, err := b.Metadata(); err == nil && (m.Engine != info.Name || m.Context != info.Context || m.Namespace != info.Namespace) {
			continue // another engine's pool: its own keeper keeps it
		}
		rec, _ := readWarm(b)
		if r.Status == StatusWarm && rec.Ready && rec.Key == specs[rec.Profile].key && have[rec.Profile] < want[rec.Profile] {
			have[rec.Profile]++
			continue
		}
		if err := removeWarm(ctx, env, b); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "recycled warm bottle %s\n", b.ID)
	}
	for _, a := range agents {
		for ; have[a.Name] < want[a.Name]; have[a.Name]++ {
			id, err := makeWarm(ctx, env, a, specs[a.Name])
			if err != nil {
				return fmt.Errorf("warm bottle of profile %s: %w", a.Name, err)
			}
			fmt.Fprintf(env.Stdout, "made warm bottle %s\n", id)
		}
	}
	return nil
}

// startedGrace is how long a keeper lets a launch's agent have the
// machine to itself once it runs: its first moments are the person's
// wait (a CLI loading, its first output), and a refill beside them, a pod
// and its containers made through the same Podman service on the same
// cores, made a claimed agent's short run 0.1 to 0.2 s longer (the
// service busy with the refill's creates when the agent died).
var startedGrace = time.Second // a test's may be longer

// AwaitStarted waits, for at most within, until the bottle id's agent
// has run for startedGrace or its launch is over (its folder gone, no
// command holding it with no agent running, or its teardown handed off):
// what a keeper started by that launch waits for. Once the agent runs,
// only its folder is looked at: no more calls to the engine meanwhile.
func AwaitStarted(ctx context.Context, env Env, id string, within time.Duration) error {
	deadline := time.Now().Add(within)
	over := func(b *state.Bottle) bool { return b == nil || !b.InUse() || pendingTeardown(b) }
	var b *state.Bottle
	for b == nil {
		if !time.Now().Before(deadline) {
			return nil
		}
		rows, err := List(ctx, env)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(rows, func(r Row) bool { return r.Identity == id })
		if i < 0 || over(rows[i].Bottle()) {
			return nil
		}
		// An agent made ahead runs from the claim on, waiting for its go-ahead: not yet started.
		if rows[i].Pod != "" && !rows[i].AgentDone && !awaitsGoAhead(rows[i].Bottle()) {
			b = rows[i].Bottle()
			break
		}
		if err := pause(ctx); err != nil {
			return err
		}
	}
	if grace := time.Now().Add(startedGrace); grace.Before(deadline) {
		deadline = grace
	}
	for time.Now().Before(deadline) && !over(b) {
		if err := pause(ctx); err != nil {
			return err
		}
	}
	return nil
}

func pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(50 * time.Millisecond):
		return nil
	}
}

// gcWarm removes, for bottle gc, a warm bottle that can no longer be
// claimed: its pod gone, never made whole, or made by another bottle
// binary or version. One of a changed profile the next keeper recycles
// (gc reads no profile).
func gcWarm(ctx context.Context, env Env, r Row) error {
	b := r.Bottle()
	if b == nil || b.InUse() {
		return nil
	}
	rec, _ := readWarm(b)
	why := ""
	switch ref, err := spec.SidecarRef(env.sidecarExe()); {
	case r.Pod == "":
		why = "its pod is gone"
	case r.Status != StatusWarm:
		why = "its pod is not running"
	case !rec.Ready || rec.Plan == nil || len(rec.Plan.Containers) == 0:
		why = "it was never made whole"
	case err == nil && rec.Plan.Containers[0].Image.Ref != ref:
		why = "another sidecar binary made it"
	case env.Version != "" && rec.Plan.Pod.Labels[spec.LabelVersion] != env.Version:
		why = "another bottle version made it"
	default:
		return nil
	}
	if err := removeWarm(ctx, env, b); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "removed warm bottle %s (%s)\n", b.ID, why)
	return nil
}

// removeWarm removes a warm bottle, its lock held so no start claims it meanwhile.
func removeWarm(ctx context.Context, env Env, b *state.Bottle) error {
	lock, err := b.Lock()
	if err != nil {
		return nil // claimed meanwhile: a start's now
	}
	defer lock.Unlock()
	if _, ok := readWarm(b); !ok {
		return nil
	}
	if err := env.Engine.Remove(context.WithoutCancel(ctx), b.ID); err != nil {
		return err
	}
	return b.Remove()
}
