package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
)

// A start that claimed a warm bottle and ends before its agent runs
// removes it, as it removes a cold one (docs/warm.md), --keep or not: a
// cold start with --keep whose preflight is declined keeps nothing, so a
// claimed one may not either. Kept, it would be a bottle that never ran,
// its proxy still held back for a claim (the egress folder's warm file),
// which a resume would start with a proxy that never serves.
func TestAClaimedWarmBottleDeclinedWithKeepIsRemoved(t *testing.T) {
	for _, declineAt := range []string{"claimed", "cold"} {
		t.Run(declineAt, func(t *testing.T) {
			w, env, _ := newWarmWorld(t)
			if declineAt == "claimed" {
				id, err := MakeWarm(context.Background(), env, w.agent(t, "w"))
				if err != nil {
					t.Fatal(err)
				}
				w.running(id)
			}
			w.answer = ErrDeclined
			l := w.launch(t, func(l *Launch) { l.Agent, l.Keep, l.Yes = w.agent(t, "w"), true, false })
			if err := l.Run(context.Background(), env); !errors.Is(err, ErrDeclined) {
				t.Fatalf("declined: %v", err)
			}
			if bs := w.bottles(t); len(bs) != 0 {
				t.Errorf("a declined --keep start left %d bottle(s), kept %v: a cold one leaves none (%s)", len(bs), bs[0].Preserved(), &w.stderr)
			}
		})
	}
}

// A claimed bottle whose agent ran is kept by --keep, as a cold one is.
func TestAClaimedWarmBottleWhoseAgentRanIsKeptByKeep(t *testing.T) {
	w, env, _ := newWarmWorld(t)
	id, err := MakeWarm(context.Background(), env, w.agent(t, "w"))
	if err != nil {
		t.Fatal(err)
	}
	w.running(id)
	b := w.root.Bottle(id)
	ready := []string{filepath.Join(b.EgressDir(), egress.ReadyFile), filepath.Join(b.SuperviseDir(), supervise.ReadyFile)}
	served := make(chan error, 1)
	go func() {
		err := egress.AwaitClaim(context.Background(), b.EgressDir(), ready)
		for _, f := range ready {
			err = errors.Join(err, os.WriteFile(f, []byte("127.0.0.1:1\n"), 0o644))
		}
		served <- err
	}()
	if err := w.launch(t, func(l *Launch) { l.Agent, l.Keep = w.agent(t, "w"), true }).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if bs := w.bottles(t); len(bs) != 1 || bs[0].ID != id || !bs[0].Preserved() {
		t.Errorf("after its agent ran, the claimed bottle %s with --keep: %v, want it kept", id, bs)
	}
}
