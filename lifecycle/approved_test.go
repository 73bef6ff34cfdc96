package lifecycle

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
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

// askEgress files an agent's egress request in a bottle's supervise
// folder, as the sidecar does.
func askEgress(t *testing.T, b *state.Bottle, host string, ports ...int) string {
	t.Helper()
	r := &supervise.Request{ID: supervise.NewID(), Kind: supervise.KindEgress, Host: host, Ports: ports, Reason: "needs it",
		Status: supervise.StatusPending, CreatedAt: time.Now().UTC()}
	if err := (supervise.Store{Dir: b.SuperviseDir()}).Create(r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// gatewayRoutes are the routes the gateway of a bottle reads.
func gatewayRoutes(t *testing.T, b *state.Bottle) []egress.Route {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(b.GatewayDir(), egress.RoutesFile))
	if err != nil {
		t.Fatal(err)
	}
	var p egress.Policy
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return p.Routes
}

// Routes a person approved belong to the bottle: a resume brings them
// back exactly as approved (an upstream stays the upstream, a local one
// stays the one host and port), where the gateway and the proxy read them
// and in the plan's dials, and its preflight shows them.
func TestResumeCarriesTheApprovedRoutes(t *testing.T) {
	ctx := context.Background()
	w := newLaunchWorld(t)
	if err := w.launch(t, func(l *Launch) { l.Keep = true }).Run(ctx, w.env()); err != nil {
		t.Fatal(err)
	}
	b := w.bottles(t)[0]
	mirror := askEgress(t, b, "pkg.example.com", 443)
	local := askEgress(t, b, "localhost", 8080)
	denied := askEgress(t, b, "evil.example.com", 443)
	for _, d := range []Decision{
		{Identity: b.ID, Request: mirror, Status: supervise.StatusApproved, By: "t", Upstream: "http://127.0.0.1:9999"},
		{Identity: b.ID, Request: local, Status: supervise.StatusApproved, By: "t", AllowLocal: true},
		{Identity: b.ID, Request: denied, Status: supervise.StatusDenied, By: "t"},
	} {
		if _, err := Decide(ctx, w.env(), d); err != nil {
			t.Fatal(err)
		}
	}
	want := []egress.Route{
		{Host: "pkg.example.com", Ports: []int{443}, Intercept: true, Upstream: "http://127.0.0.1:9999"},
		{Host: "localhost", Ports: []int{8080}, Intercept: true},
	}

	w.eng = newFakeEngine()
	var pf Preflight
	r := &Resume{ID: b.ID, Yes: true, ConfigFile: w.config, ShowPreflight: func(_ io.Writer, p Preflight) error { pf = p; return nil }}
	if err := r.Run(ctx, w.env()); err != nil {
		t.Fatal(err)
	}
	got := gatewayRoutes(t, b)
	for _, r := range want {
		if !slices.ContainsFunc(got, func(g egress.Route) bool {
			return g.Host == r.Host && slices.Equal(g.Ports, r.Ports) && g.Upstream == r.Upstream && g.Intercept == r.Intercept
		}) {
			t.Errorf("the resumed gateway's routes %+v lack the approved %+v", got, r)
		}
	}
	if slices.ContainsFunc(got, func(g egress.Route) bool {
		return g.Host == "evil.example.com" || g.Host == "pkg.example.com" && g.Upstream == ""
	}) {
		t.Errorf("the resumed gateway's routes are wider than approved: %+v", got)
	}
	if len(w.eng.plans) != 1 {
		t.Fatalf("plans: %d", len(w.eng.plans))
	}
	dials := w.eng.plans[0].Dials
	for _, d := range []spec.Dial{{Host: "127.0.0.1", Port: 9999}, {Host: "localhost", Port: 8080}} {
		if !slices.Contains(dials, d) {
			t.Errorf("the resumed plan's dials %v lack %v", dials, d)
		}
	}
	if slices.Contains(dials, spec.Dial{Host: "pkg.example.com", Port: 443}) {
		t.Errorf("the resumed plan dials the host an upstream stands for: %v", dials)
	}
	if len(pf.Approved) != 2 {
		t.Fatalf("the resume's preflight shows %d approved routes, want 2: %+v", len(pf.Approved), pf.Approved)
	}
	for i, a := range pf.Approved {
		if r := a.Route(); r.Host != want[i].Host || !slices.Equal(r.Ports, want[i].Ports) || r.Upstream != want[i].Upstream || a.By != "t" {
			t.Errorf("the preflight's approved route %d: %+v, want %+v", i, a, want[i])
		}
	}
	if pf.Approved[0].AllowLocal || !pf.Approved[1].AllowLocal {
		t.Errorf("the preflight does not say which route was approved to reach this machine: %+v", pf.Approved)
	}
	// The record is the bottle's own: no container mounts it.
	record := filepath.Join(b.Dir, state.ApprovedRoutesFile)
	for _, m := range w.eng.mounts() {
		if rel, err := filepath.Rel(m, record); err == nil && filepath.IsLocal(rel) {
			t.Errorf("the mount of %s reaches the approved routes' record", m)
		}
	}
}

// A fresh start of the same profile has none of another bottle's
// approvals, and a bottle with none has none in its preflight.
func TestFreshStartHasNoApprovedRoutes(t *testing.T) {
	ctx := context.Background()
	w := newLaunchWorld(t)
	if err := w.launch(t, func(l *Launch) { l.Keep = true }).Run(ctx, w.env()); err != nil {
		t.Fatal(err)
	}
	b := w.bottles(t)[0]
	req := askEgress(t, b, "pkg.example.com", 443)
	if _, err := Decide(ctx, w.env(), Decision{Identity: b.ID, Request: req, Status: supervise.StatusApproved, By: "t"}); err != nil {
		t.Fatal(err)
	}
	var pf Preflight
	if err := w.launch(t, func(l *Launch) {
		l.ShowPreflight = func(_ io.Writer, p Preflight) error { pf = p; return nil }
	}).Run(ctx, w.env()); err != nil {
		t.Fatal(err)
	}
	if len(pf.Approved) != 0 {
		t.Errorf("a fresh start has approved routes: %+v", pf.Approved)
	}
	for _, d := range w.eng.plans[len(w.eng.plans)-1].Dials {
		if d.Host == "pkg.example.com" {
			t.Errorf("a fresh start dials another bottle's approved host: %v", d)
		}
	}
}

// The approved routes' record, like every record of a bottle, is trusted
// because no container reaches the bottle's folder. A working directory
// that holds the state root (a bind start in the person's home, where
// ~/.local/state is) would put it in the agent's workspace, where the
// agent writes itself the routes a resume brings back; copied, the state
// of every bottle would go into the copy. Neither starts, and nothing is
// made.
func TestWorkdirHoldingTheStateIsRefused(t *testing.T) {
	for _, ws := range []string{config.WorkspaceBind, config.WorkspaceCopy} {
		for _, inside := range []bool{false, true} {
			w := newLaunchWorld(t)
			w.eng.info.Rootless = true // as a person's Podman runs: no owner check refuses it first
			w.root = state.Root{Dir: filepath.Join(w.workdir, ".local", "state", "bottle")}
			if inside {
				w.root = state.Root{Dir: filepath.Join(w.dir, "state")}
				w.workdir = filepath.Join(w.root.Dir, "somewhere")
				os.MkdirAll(w.workdir, 0o755)
			}
			l := w.launch(t, nil)
			a := *l.Agent
			a.Workspace = ws
			l.Agent = &a
			err := l.Run(context.Background(), w.env())
			if err == nil || !strings.Contains(err.Error(), "state folder") {
				t.Errorf("%s workspace %s with the state root %s: %v", ws, w.workdir, w.root.Dir, err)
			}
			if bs := w.bottles(t); len(bs) != 0 || len(w.eng.called()) != 0 {
				t.Errorf("%s: made %v, asked the engine %v", ws, bs, w.eng.called())
			}
		}
	}
}
