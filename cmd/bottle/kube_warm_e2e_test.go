//go:build e2e

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// These need a cluster (hack/e2e.sh's kube phase).
var _ = needs([]string{cluster},
	TestKubeClaimedWarmPodIsThePodAColdStartMakes,
	TestKubeGCRemovesWarmPods)

// kubeWarmProfile keeps one warm pod of profile kw, whose route leads to
// up; kc has a credential on its route, which no warm pod may hold.
func kubeWarmEnv(t *testing.T, up *upstream) *env {
	e := kubeEnv(t, fmt.Sprintf(`
[agents.kw]
extends = "k"
warm = 1

[[agents.kw.egress]]
host = "api.example.test"
ports = [80]
upstream = "%s"
`, up.URL))
	// A keeper a start ran in the background is done before the test's
	// own cleanup looks for what is left.
	t.Cleanup(func() {
		if lock, err := (state.Root{Dir: e.rootDir()}).LockPool(); err == nil {
			lock.Unlock()
		}
		e.run("gc")
	})
	return e
}

// TestKubeClaimedWarmPodIsThePodAColdStartMakes: on the cluster, bottle warm
// makes a warm pod of a profile that keeps one; bottle ls shows it apart;
// bottle start claims it: its agent runs the start's command in the start's
// workspace (a copy brought in at the claim) and reaches its route through
// the proxy (the NetworkPolicy set at the claim). The claimed bottle is the
// bottle a cold start makes: its plan, its pod, Secrets and NetworkPolicy
// as the cluster reports them, the files in its folder, but for names and
// times. The keeper the claim ran refills the pool; a change of the profile
// recycles it; nothing is left.
func TestKubeClaimedWarmPodIsThePodAColdStartMakes(t *testing.T) {
	up := newUpstreamOn(t, false, kubeNodeIP)
	e := kubeWarmEnv(t, up)
	os.WriteFile(filepath.Join(e.workdir, "brief.txt"), []byte("the claim's brief"), 0o644)
	e.mustRun("warm", "--engine", "kubernetes")
	warm := e.warmBottles()
	if len(warm) != 1 {
		t.Fatalf("after bottle warm, warm bottles %v, want one", warm)
	}
	if out := e.mustRun("ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("bottle ls -q lists warm bottles as the person's: %q", out)
	}
	if out := e.mustRun("ls"); !strings.Contains(out, "Warm bottles") || !strings.Contains(out, warm[0]) {
		t.Errorf("bottle ls does not show the warm bottle apart:\n%s", out)
	}
	// A warm pod holds nothing of anyone's: no route in its policy, no
	// workspace, no secret.
	if pol := bottlePolicy(t, warm[0]); len(pol.Spec.Egress) != 1 {
		t.Errorf("the warm pod's policy lets out %+v, want DNS alone", pol.Spec.Egress)
	}
	start := func(n int) (id, plan string, claimed bool) {
		// One command for both: a claimed plan is compared with a cold one.
		script := "cat /workspace/brief.txt; echo; /workspace/probe get http://api.example.test/same; sleep 600"
		out, errs, code := e.run("--debug", "start", "--yes", "-d", "kw", "--", script)
		if code != 0 {
			t.Fatalf("bottle start exited %d\nstdout: %s\nstderr: %s", code, out, errs)
		}
		plan, claimed = plannedOf(t, errs)
		id = strings.TrimSpace(out)
		poll(t, time.Minute, "the agent's request upstream", func() bool {
			reqs, _ := up.requests()
			return len(reqs) >= n
		})
		if logs := e.mustRun("logs", id); !strings.Contains(logs, "the claim's brief") || !strings.Contains(logs, "ok get http://api.example.test/same") {
			t.Errorf("the agent of %s (claimed: %v) said:\n%s", id, claimed, logs)
		}
		return id, plan, claimed
	}
	random := map[string]bool{"egress/ca.pem": true, "egress/ca.key": true, "agent/ca.pem": true, "agent/ca-bundle.pem": true, "metadata.json": true}

	claimedID, claimedPlan, claimed := start(1)
	if claimedID != warm[0] || !claimed {
		t.Fatalf("bottle start made %s (claimed: %v), want the warm bottle %s claimed", claimedID, claimed, warm[0])
	}
	ck := kubeObjects(t, claimedID)
	cs := stateFiles(t, filepath.Join(e.rootDir(), claimedID), claimedID, random)
	e.mustRun("rm", claimedID)
	refilled := e.awaitWarm(claimedID)
	e.mustRun("rm", refilled)
	if w := e.warmBottles(); len(w) != 0 {
		t.Fatalf("warm bottles %v after bottle rm of the only one", w)
	}

	coldID, coldPlan, claimed := start(2)
	if claimed || coldID == claimedID {
		t.Fatalf("with no warm bottle, bottle start claimed one (%s)", coldID)
	}
	ok := kubeObjects(t, coldID)
	so := stateFiles(t, filepath.Join(e.rootDir(), coldID), coldID, random)
	last := e.awaitWarm(claimedID, refilled, coldID)
	if reqs, _ := up.requests(); len(reqs) != 2 || reqs[0].URL.Path != "/same" || reqs[1].URL.Path != "/same" {
		t.Errorf("upstream saw %d requests, want two of /same", len(reqs))
	}
	if d := differences(neutral(claimedPlan, claimedID), neutral(coldPlan, coldID)); len(d) > 0 {
		t.Errorf("the plans differ (- claimed, + cold):\n%s", strings.Join(d, "\n"))
	}
	for _, what := range sortedKeys(ck, ok) {
		if d := differences(ck[what], ok[what]); len(d) > 0 {
			t.Errorf("%s as the cluster reports it differs (- claimed, + cold):\n%s", what, strings.Join(d, "\n"))
		}
	}
	if d := differences(cs, so); len(d) > 0 {
		t.Errorf("the state folders differ (- claimed, + cold):\n%s", strings.Join(d, "\n"))
	}
	e.mustRun("rm", coldID)

	// A change of the profile recycles its pool.
	data, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.config, append(data, "\n[agents.kw.env]\nCHANGED = \"1\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	out := e.mustRun("warm", "--engine", "kubernetes")
	now := e.warmBottles()
	if !strings.Contains(out, "recycled warm bottle "+last) || len(now) != 1 || now[0] == last || !strings.Contains(out, "made warm bottle "+now[0]) {
		t.Errorf("after the profile changed, the keeper said %q and the warm bottles are %v (was %s)", out, now, last)
	}
	if left := kubeLeftovers(t, last); left != "" {
		t.Errorf("the recycled warm pod left:\n%s", left)
	}
	e.mustRun(append([]string{"rm"}, now...)...)
	kubeClean(t, e)
}

// TestKubeGCRemovesWarmPods: bottle gc removes a warm bottle whose pod is
// gone, and bottle rm a warm pod; nothing is left on the cluster.
func TestKubeGCRemovesWarmPods(t *testing.T) {
	e := kubeWarmEnv(t, newUpstreamOn(t, false, kubeNodeIP))
	e.mustRun("warm", "--engine", "kubernetes")
	warm := e.warmBottles()
	if len(warm) != 1 {
		t.Fatalf("after bottle warm, warm bottles %v, want one", warm)
	}
	if out, err := kubectl(t, "", "delete", "pod", "--wait", "bottle-"+warm[0]); err != nil {
		t.Fatalf("kubectl: %v: %s", err, out)
	}
	if out := e.mustRun("gc"); !strings.Contains(out, "removed warm bottle "+warm[0]+" (its pod is gone)") {
		t.Errorf("bottle gc printed:\n%s", out)
	}
	poll(t, time.Minute, "the warm bottle's objects to go", func() bool { return kubeLeftovers(t, warm[0]) == "" })
	e.mustRun("warm", "--engine", "kubernetes")
	again := e.warmBottles()
	if len(again) != 1 || again[0] == warm[0] {
		t.Fatalf("after bottle warm again, warm bottles %v", again)
	}
	e.mustRun("rm", again[0])
	kubeClean(t, e)
}

// kubeObjects is what the cluster reports of a bottle's pod (its spec,
// labels and annotations), Secrets (their keys) and NetworkPolicy (its
// spec), as flattened JSON lines with the identity made neutral.
func kubeObjects(t *testing.T, id string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	get := func(what string) []map[string]any {
		data, err := kubectl(t, "", "get", what, "-l", spec.LabelIdentity+"="+id, "-o", "json")
		if err != nil {
			t.Fatalf("kubectl get %s: %v: %s", what, err, data)
		}
		var list struct{ Items []map[string]any }
		if err := json.Unmarshal([]byte(strings.ReplaceAll(data, id, "IDENTITY")), &list); err != nil {
			t.Fatalf("kubectl get %s: %v", what, err)
		}
		return list.Items
	}
	for _, p := range get("pods") {
		meta := p["metadata"].(map[string]any)
		out["pod "+fmt.Sprint(meta["name"])] = flatten("", map[string]any{"spec": p["spec"], "labels": meta["labels"], "annotations": meta["annotations"]}, nil)
	}
	for _, s := range get("secrets") {
		meta := s["metadata"].(map[string]any)
		var keys []string
		for k := range s["data"].(map[string]any) {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out["secret "+fmt.Sprint(meta["name"])] = flatten("", map[string]any{"keys": keys, "labels": meta["labels"], "type": s["type"]}, nil)
	}
	for _, n := range get("networkpolicies") {
		meta := n["metadata"].(map[string]any)
		out["networkpolicy "+fmt.Sprint(meta["name"])] = flatten("", map[string]any{"spec": n["spec"], "labels": meta["labels"]}, nil)
	}
	if len(out) == 0 {
		t.Fatalf("nothing of %s on the cluster", id)
	}
	return out
}
