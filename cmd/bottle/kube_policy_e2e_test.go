//go:build e2e

package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// These need a cluster (hack/e2e.sh's kube phase).
var _ = needs([]string{cluster},
	TestKubePolicyLetsOutOnlyWhatTheGatewayDials)

// The test cluster enforces NetworkPolicy (hack/kube-up.sh runs
// kube-router's firewall in its namespace): a pod's connection that no
// policy allows is refused.

// TestKubePolicyLetsOutOnlyWhatTheGatewayDials: a started bottle's
// NetworkPolicy is the one bottle kube manifest prints for its profile; it
// lets the gateway reach the upstream a route is rewritten to (an address
// and port that are not the route's), and, with the pod's own isolation
// taken out, refuses the agent anything else (the node on another port);
// a route approved while the bottle runs is let out too (issue 21).
func TestKubePolicyLetsOutOnlyWhatTheGatewayDials(t *testing.T) {
	up := newUpstreamOn(t, false, kubeNodeIP)
	later := newUpstreamOn(t, false, kubeNodeIP)
	other := newUpstreamOn(t, false, kubeNodeIP) // no route leads here
	e := kubeEnv(t, fmt.Sprintf(`
[[agents.k.egress]]
host = "api.example.test"
ports = [80]
upstream = "%s"
`, up.URL))
	ee := &egressEnv{env: e}
	manifest := manifestPolicy(t, e.mustRun("kube", "manifest", "--namespace", "default", "k"))
	id := strings.TrimSpace(e.mustRun("start", "--yes", "--detach", "k", "--", "sleep 300"))
	if got := bottlePolicy(t, id); !reflect.DeepEqual(got.Spec.Egress, manifest.Spec.Egress) {
		t.Errorf("the started bottle's policy lets out\n%+v\nthe manifest's\n%+v", got.Spec.Egress, manifest.Spec.Egress)
	}
	probe := func(args ...string) string {
		out, _, _ := e.run(append([]string{"exec", id, "--", "/workspace/probe"}, args...)...)
		return strings.TrimSpace(out)
	}
	if out := probe("get", "http://api.example.test/allowed"); !strings.HasPrefix(out, "ok get") || !strings.Contains(out, "hello from upstream /allowed") {
		t.Errorf("the route, through the gateway: %s", out)
	}
	takeOutIsolation(t, id)
	if out := probe("tcp", kubeNodeIP+":"+up.Port); !strings.HasPrefix(out, "ok tcp") {
		t.Fatalf("with its isolation out, the agent reaches the upstream the policy allows: %s", out)
	}
	if out := probe("tcp", kubeNodeIP+":"+other.Port); !strings.HasPrefix(out, "fail tcp") || !strings.Contains(out, "refused") {
		t.Errorf("with its isolation out, the agent reached what the policy does not allow: %s", out)
	}
	if out := probe("tcp", kubeNodeIP+":"+later.Port); !strings.HasPrefix(out, "fail tcp") {
		t.Errorf("before the approval, the agent reached the later upstream: %s", out)
	}
	asked := e.command("exec", id, "--", "/workspace/probe", "mcp-egress", "later.example.test", "80", "the build needs it")
	said := startBackground(t, asked)
	gotID, req := ee.waitRequest(t, "egress")
	if gotID != id {
		t.Fatalf("the request came from %s, want %s", gotID, id)
	}
	e.mustRun("approve", "--allow-local", "--upstream", later.URL, id, req)
	if err := asked.Wait(); err != nil || !strings.Contains(said.String(), "approved "+req) {
		t.Fatalf("the request: %v %s", err, said.String())
	}
	if out := probe("get", "http://later.example.test/after"); !strings.HasPrefix(out, "ok get") {
		t.Errorf("the approved route, through the gateway: %s", out)
	}
	if reqs, _ := later.requests(); len(reqs) != 1 || reqs[0].URL.Path != "/after" {
		t.Errorf("the later upstream saw %d requests", len(reqs))
	}
	if reqs, _ := other.requests(); len(reqs) != 0 {
		t.Errorf("the upstream no route leads to saw %d requests", len(reqs))
	}
	e.mustRun("rm", id)
	kubeClean(t, e)
}
