package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/state"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// stopRemoveEngine stands for an engine in the dashboard's tests: it only
// remembers which bottles it was asked to stop and remove (any other call
// panics: the dashboard's keys make none).
type stopRemoveEngine struct {
	lifecycle.Engine
	mu    sync.Mutex
	calls []string
}

func (e *stopRemoveEngine) Stop(_ context.Context, id string) error   { return e.call("stop " + id) }
func (e *stopRemoveEngine) Remove(_ context.Context, id string) error { return e.call("remove " + id) }
func (e *stopRemoveEngine) call(c string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, c)
	return nil
}
func (e *stopRemoveEngine) did() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

func key(k string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)} }

// The dashboard's x asks before it removes, naming the bottle; s and x act
// only from the bottles pane; a stop or a removal shows it is under way
// (status line and row) until its outcome, which the status line then says.
func TestDashboardConfirmsRemovalAndShowsProgress(t *testing.T) {
	eng := &stopRemoveEngine{}
	m := &dashboard{ctx: context.Background(), env: lifecycle.Env{Engine: eng}, width: 80, height: 24,
		bottles: []lifecycle.Row{
			{Identity: "run-aaaaa", Agent: "claude", Status: "running"},
			{Identity: "kept-bbbbb", Agent: "codex", Status: lifecycle.StatusKept},
		},
		requests: []bottleRequest{{Identity: "run-aaaaa", Request: &supervise.Request{ID: "r1", Kind: supervise.KindEgress, Status: supervise.StatusPending}}},
	}
	press := func(k string) tea.Cmd {
		t.Helper()
		_, cmd := m.Update(key(k))
		return cmd
	}
	// From the requests pane, neither key reaches a bottle.
	m.pane = paneRequests
	for _, k := range []string{"x", "s"} {
		if cmd := press(k); cmd != nil || m.removing != nil {
			t.Fatalf("%s from the requests pane acted on a bottle", k)
		}
		if !strings.Contains(m.status, "bottles pane") {
			t.Errorf("%s from the requests pane: status %q does not say where it acts", k, m.status)
		}
	}
	// x asks, naming the kept bottle selected; any key but y cancels.
	m.pane, m.bottleI = paneBottles, 1
	if cmd := press("x"); cmd != nil {
		t.Fatal("x removed a bottle in one keystroke")
	}
	if v := m.View(); !strings.Contains(v, "remove kept-bbbbb (codex)?") || !strings.Contains(v, "y removes") || !strings.Contains(v, "kept") {
		t.Errorf("the removal's question does not name the bottle and its keeping:\n%s", v)
	}
	// Whole at 80 columns: how to answer it included (it was cut at the edge).
	if v := ansi.Strip(m.View()); !strings.Contains(strings.ReplaceAll(v, "\n↳ ", " "), "any other key cancels") {
		t.Errorf("the removal's question is cut at 80 columns:\n%s", v)
	}
	m.bottleI = 0 // what the list shows since does not change what was asked about
	if cmd := press("n"); cmd != nil || m.removing != nil || m.status != "not removed: kept-bbbbb" {
		t.Fatalf("n did not cancel: status %q", m.status)
	}
	m.bottleI = 1
	press("x")
	cmd := press("y")
	if cmd == nil {
		t.Fatal("y did not remove")
	}
	if v := m.View(); !strings.Contains(v, "removing kept-bbbbb…") || !strings.Contains(v, "removing…") {
		t.Errorf("the removal under way is not shown:\n%s", v)
	}
	if d := eng.did(); len(d) != 0 {
		t.Fatalf("the engine was called in the update loop: %v", d)
	}
	m.Update(cmd())
	if d := eng.did(); !slices.Equal(d, []string{"remove kept-bbbbb"}) {
		t.Errorf("engine calls %v, want the kept bottle removed", d)
	}
	if m.status != "removed kept-bbbbb" || m.busy["kept-bbbbb"] != "" {
		t.Errorf("after the removal: status %q, busy %v", m.status, m.busy)
	}
	// s stops at once (a stopped bottle is kept), shows it, and a second s
	// while it runs does nothing more.
	m.bottleI = 0
	cmd = press("s")
	if cmd == nil || m.status != "stopping run-aaaaa…" || !strings.Contains(m.View(), "stopping…") {
		t.Fatalf("s: status %q\n%s", m.status, m.View())
	}
	if again := press("s"); again != nil {
		t.Error("a second s started another stop")
	}
	m.Update(cmd())
	if d := eng.did(); !slices.Equal(d, []string{"remove kept-bbbbb", "stop run-aaaaa"}) {
		t.Errorf("engine calls %v", d)
	}
	if !strings.HasPrefix(m.status, "stopped run-aaaaa") {
		t.Errorf("after the stop: status %q", m.status)
	}
}

// The heading counts in English: one bottle, one pending request.
func TestDashboardHeadingCounts(t *testing.T) {
	m := &dashboard{ctx: context.Background(), width: 80, height: 24,
		bottles:  []lifecycle.Row{{Identity: "run-aaaaa", Agent: "claude", Status: "running"}},
		requests: []bottleRequest{{Identity: "run-aaaaa", Request: &supervise.Request{ID: "r1", Kind: supervise.KindEgress, Status: supervise.StatusPending}}},
	}
	if v := m.View(); !strings.Contains(v, "  1 bottle, 1 pending request\n") {
		t.Errorf("one of each:\n%s", v)
	}
	m.bottles = append(m.bottles, lifecycle.Row{Identity: "kept-bbbbb", Agent: "codex", Status: lifecycle.StatusKept})
	m.requests = nil
	if v := m.View(); !strings.Contains(v, "  2 bottles, 0 pending requests\n") {
		t.Errorf("two and none:\n%s", v)
	}
}

// The dashboard resumes a bottle after an approved image change only once
// the session the change ended lets go of it: on main it resumed while
// that session's command still settled the workspace, the resume was
// refused as in use, and the dashboard never tried again (a CI run's
// TestDashboardAutoResumesAfterApprovedImageChange waited 90 s for it).
func TestDashboardAutoResumesOnlyABottleNoCommandHolds(t *testing.T) {
	root := state.Root{Dir: t.TempDir()}
	b := root.Bottle("ar-klmno")
	if err := os.MkdirAll(b.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteMetadata(state.Metadata{Identity: b.ID, Agent: "ar", AutoResume: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Preserve("capability r1 approved"); err != nil {
		t.Fatal(err)
	}
	lock, err := b.Lock()
	if err != nil {
		t.Fatal(err)
	}
	m := &dashboard{ctx: context.Background(), resumed: map[string]bool{},
		bottles: []lifecycle.Row{{Identity: b.ID, Agent: "ar", Status: lifecycle.StatusKept, State: b.Dir, Preserved: true}}}
	if cmd := m.autoResume(); cmd != nil {
		t.Fatal("the dashboard resumes a bottle another command holds")
	}
	lock.Unlock()
	if cmd := m.autoResume(); cmd == nil {
		t.Fatal("the dashboard does not resume the bottle once it is free")
	}
	if cmd := m.autoResume(); cmd != nil {
		t.Fatal("the dashboard resumes the same change twice")
	}
}
