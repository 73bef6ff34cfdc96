//go:build e2e

package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/spec"
)

// bottle inspect shows a real bottle's record, services and routes, as
// text and JSON; bottle stats its services' figures from the engine (or,
// where the engine gives none, why), and refuses a stopped bottle in a
// bottle's terms; inspect then says it is kept and how to carry on.
func TestInspectAndStatsOfARealBottle(t *testing.T) {
	e := newEnv(t, "\n[[agents.t.egress]]\nhost = \"example.com\"\nports = [443]\n")
	id := e.startDetached("exec sleep 600")

	out := e.mustRun("inspect", id)
	for _, want := range []string{"bottle " + id + "  (podman)", "  status     running\n", "  agent      t\n", "  workdir    " + e.workdir + " (bind)\n",
		"  service    agent     running\n", "  service    egress    running\n", "  service    gateway   running\n", "  egress     example.com:443\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "bottle-"+id) {
		t.Errorf("inspect names the engine's pod or containers:\n%s", out)
	}
	var in lifecycle.Inspection
	if err := json.Unmarshal([]byte(e.mustRun("inspect", "--json", id)), &in); err != nil {
		t.Fatal(err)
	}
	if in.Record == nil || in.Record.Agent != "t" || in.Bottle.Status != "running" || len(in.Routes) != 1 || in.Routes[0].Host != "example.com" ||
		len(in.Services) < 2 || in.Services[0] != (lifecycle.ServiceState{Service: "agent", State: "running"}) {
		t.Errorf("inspect --json: %+v", in)
	}

	out = e.mustRun("stats")
	if !strings.HasPrefix(out, "IDENTITY  SERVICE  CPU %  MEMORY") || !strings.Contains(out, id+"   agent ") {
		t.Errorf("stats:\n%s", out)
	}
	var st []lifecycle.BottleStats
	if err := json.Unmarshal([]byte(e.mustRun("stats", "--json", id)), &st); err != nil || len(st) != 1 || st[0].Identity != id || len(st[0].Services) < 2 {
		t.Fatalf("stats --json: %+v %v", st, err)
	}
	if !slices.ContainsFunc(st[0].Services, func(s spec.ServiceStats) bool { return s.Service == "gateway" }) {
		t.Errorf("stats --json has no figures of the gateway beside the pod: %+v", st[0].Services)
	}
	for _, s := range st[0].Services {
		figures := s.Memory > 0 && s.PIDs > 0
		if figures == (s.Unavailable != "") {
			t.Errorf("service %s: figures %v, unavailable %q: want one or the other", s.Service, figures, s.Unavailable)
		}
		if s.Unavailable != "" && strings.Contains(s.Unavailable, "bottle-"+id) {
			t.Errorf("service %s's reason names the engine's containers: %s", s.Service, s.Unavailable)
		}
		if s.Service == "agent" && !rootless() && (!figures || s.MemoryLimit != 256<<20) {
			t.Errorf("rootful, the agent's figures come with its 256m limit: %+v", s)
		}
	}

	e.mustRun("stop", id)
	if _, errs, code := e.run("stats", id); code != exitFailure || !strings.Contains(errs, "bottle "+id+" is not running: bottle resume "+id) {
		t.Errorf("stats of a stopped bottle: exit %d: %s", code, errs)
	}
	if out := e.mustRun("inspect", id); !strings.Contains(out, "  status     kept (bottle resume "+id+")\n") || !strings.Contains(out, "  kept       stopped\n") {
		t.Errorf("inspect of a stopped bottle:\n%s", out)
	}
	e.mustRun("rm", id)
	e.assertClean()
}
