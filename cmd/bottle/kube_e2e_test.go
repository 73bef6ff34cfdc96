//go:build e2e

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// These need a cluster (hack/e2e.sh's kube phase).
var _ = needs([]string{cluster},
	TestKubeManifestIsAcceptedByTheAPIServer,
	TestKubeBottleRunsAndLeavesNothing,
	TestKubeAgentCannotGetOut,
	TestKubeKeepThenResumeCarriesOn,
	TestKubeApprovalGoesLive,
	TestKubeRestrictedNamespaceRefused,
	TestKubeDashboardShowsClusterBottles,
	TestKubeDetachedApprovalGoesLive,
	TestKubeGitFetchWhileRunning,
	TestKubeContainerfileAgentIsBuiltHere,
	TestKubeGitGateHoldsThePushAndGitFetchBringsIt,
	TestKubeGCRemovesWhatNobodyWill)

// The Kubernetes tests run against a real single-node cluster
// (hack/kube-up.sh), from inside its network namespace; hack/e2e.sh sets
// BOTTLE_KUBECONFIG and BOTTLE_KUBECTL. They run only in that phase.

// bottle kube manifest prints what a start would make on a cluster, and the
// real API server takes it (server-side dry run): for runc and gVisor, with
// egress routes, credentials in a Secret of the proxy's own; the bottle's
// folders in an emptyDir, or with --storage in a PersistentVolumeClaim.
func TestKubeManifestIsAcceptedByTheAPIServer(t *testing.T) {
	e := newEnv(t, `
[agents.k]
extends = "t"
[[agents.k.egress]]
host = "api.example.test"
ports = [443]
[agents.k.egress.credential]
header = "x-api-key"
from_env = "BOTTLE_E2E_KUBE_KEY"

[agents.g]
extends = "k"
runtime = "runsc"
`)
	e.extraEnv = append(e.extraEnv, "BOTTLE_E2E_KUBE_KEY=kube-test-key-not-printed")
	for _, profile := range []string{"k", "g"} {
		t.Run(profile, func(t *testing.T) {
			args, volume := []string{"kube", "manifest", "--namespace", "default"}, "emptyDir: {}"
			if profile == "g" {
				args, volume = append(args, "--storage", "2Gi"), "kind: PersistentVolumeClaim"
			}
			manifest := e.mustRun(append(args, profile)...)
			for _, want := range []string{"kind: Pod", volume, "kind: NetworkPolicy", "kind: Secret", "NET_ADMIN", "restartPolicy: Always", "automountServiceAccountToken: false", "RuntimeDefault"} {
				if !strings.Contains(manifest, want) {
					t.Errorf("the manifest lacks %q", want)
				}
			}
			if profile == "k" && strings.Contains(manifest, "PersistentVolumeClaim") {
				t.Error("the manifest has a PersistentVolumeClaim where no storage was asked for")
			}
			if strings.Contains(manifest, "kube-test-key-not-printed") {
				t.Error("the manifest holds the credential's value")
			}
			if profile == "g" && !strings.Contains(manifest, "runtimeClassName: gvisor") {
				t.Error("a runsc profile's pod does not ask for gVisor")
			}
			out, err := kubectl(t, manifest, "apply", "--dry-run=server", "-f", "-")
			if err != nil {
				t.Fatalf("the API server refused the manifest: %v\n%s\n%s", err, out, manifest)
			}
			// The dry run can fail: a field the API does not know is refused.
			if out, err := kubectl(t, strings.Replace(manifest, "restartPolicy: Never", "restartPolicy: Never\n  bogusField: 1", 1), "apply", "--dry-run=server", "--validate=strict", "-f", "-"); err == nil {
				t.Errorf("a manifest with an unknown field was accepted:\n%s", out)
			}
		})
	}
	if s := e.states(); len(s) != 0 {
		t.Errorf("a manifest left state behind: %v", s)
	}
}

// TestKubeBottleRunsAndLeavesNothing: on the cluster, under runc and under
// gVisor, a bottle starts, attaches (what the agent says arrives), sees its
// workspace, exits with the agent's code, brings the agent's writes back
// into the kept bottle's folder, and leaves nothing on the cluster.
func TestKubeBottleRunsAndLeavesNothing(t *testing.T) {
	for _, profile := range []string{"k", "g"} {
		t.Run(profile, func(t *testing.T) {
			e := kubeEnv(t, "")
			os.WriteFile(filepath.Join(e.workdir, "brief.txt"), []byte("the brief, from the host"), 0o644)
			pre := e.mustRun("start", "--dry-run", profile)
			if !strings.Contains(pre, "kubernetes") || !strings.Contains(pre, "namespace default") || !strings.Contains(pre, "workspace  copy of") {
				t.Errorf("the preflight should name the cluster and the copied workspace:\n%s", pre)
			}
			out, errs, code := e.run("start", "--yes", "--keep", profile, "--", "cat /workspace/brief.txt; echo; uname -r; echo back > /workspace/made.txt; exit 7")
			if code != 7 || !strings.Contains(out, "the brief, from the host") {
				t.Fatalf("the bottle: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
			}
			if profile == "g" && !strings.Contains(out, "gvisor") {
				t.Errorf("a runsc profile's agent did not run under gVisor: %s", out)
			}
			m := regexp.MustCompile(`bottle resume ([a-z]-[0-9a-z]{5})`).FindStringSubmatch(errs)
			if m == nil {
				t.Fatalf("no resume hint: %s", errs)
			}
			if b, err := os.ReadFile(filepath.Join(e.rootDir(), m[1], "agent", "workspace", "made.txt")); err != nil || string(b) != "back\n" {
				t.Errorf("the agent's write did not come back: %q %v", b, err)
			}
			e.awaitTeardowns()
			if left := kubeLeftovers(t, m[1]); left != "" {
				t.Errorf("the bottle left on the cluster:\n%s", left)
			}
			e.mustRun("rm", m[1])
			if s := e.states(); len(s) != 0 {
				t.Errorf("state left: %v", s)
			}
		})
	}
}

// TestKubeAgentCannotGetOut: from inside the agent's container on the
// cluster, under runc and gVisor, every way out but the proxy fails: direct
// TCP to the API server and to the node, UDP and DNS, IPv6, the proxy
// variables ignored, the kubernetes Service; and the proxy's secrets, its
// CA key and the gateway's socket are not there.
func TestKubeAgentCannotGetOut(t *testing.T) {
	for _, profile := range []string{"k", "g"} {
		t.Run(profile, func(t *testing.T) {
			e := kubeEnv(t, "")
			attempts := []string{
				"/workspace/probe tcp 10.231.0.1:6443",
				"/workspace/probe tcp 10.231.0.1:10250",
				"/workspace/probe tcp 10.231.128.1:22",
				"/workspace/probe udp 10.231.0.1:53",
				"/workspace/probe dns kubernetes.default.svc.cluster.local",
				"/workspace/probe tcp [::1]:6443",
				"/workspace/probe noproxy https://10.231.0.1:6443/version",
				"/workspace/probe read /run/bottle/egress/secrets.json",
				"/workspace/probe read /run/bottle/egress/ca.key",
				"/workspace/probe unix /run/bottle/egress/gateway/gateway.sock",
				"/workspace/probe tcp $KUBERNETES_SERVICE_HOST:443",
			}
			out, errs, code := e.run("start", "--yes", profile, "--", strings.Join(attempts, "; "))
			if code != 0 {
				t.Fatalf("the bottle: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != len(attempts) {
				t.Fatalf("%d lines for %d attempts:\n%s\nstderr: %s", len(lines), len(attempts), out, errs)
			}
			for _, l := range lines {
				if !strings.HasPrefix(strings.TrimSpace(l), "fail ") {
					t.Errorf("got out: %s", l)
				}
			}
			kubeClean(t, e)
		})
	}
}

// TestKubeKeepThenResumeCarriesOn: a kept cluster bottle resumes on the
// cluster under the same identity with its workspace and home as the agent
// left them; a detached one is listed as running beside the kept one, and
// bottle stop then rm leave nothing (issue 14). The same with the bottle's
// folders on a PersistentVolumeClaim (storage set) as in an emptyDir.
func TestKubeKeepThenResumeCarriesOn(t *testing.T) {
	for name, kube := range map[string]string{"emptyDir": `namespace = "default"`, "claim": "namespace = \"default\"\nstorage = \"1Gi\""} {
		t.Run(name, func(t *testing.T) { keepThenResume(t, kubeEnvWith(t, kube, "")) })
	}
}

func keepThenResume(t *testing.T, e *env) {
	_, errs, code := e.run("start", "--yes", "--keep", "k", "--", "echo first > /workspace/w.txt; echo remembered > ~/h.txt")
	m := regexp.MustCompile(`bottle resume (k-[0-9a-z]{5})`).FindStringSubmatch(errs)
	if code != 0 || m == nil {
		t.Fatalf("the first session: exit %d: %s", code, errs)
	}
	id := m[1]
	out, errs, code := e.run("resume", "--yes", id, "--", "cat /workspace/w.txt ~/h.txt; hostname")
	if code != 0 || !strings.Contains(out, "first") || !strings.Contains(out, "remembered") || !strings.Contains(out, id) {
		t.Fatalf("resume on the cluster: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}

	detached := strings.TrimSpace(e.mustRun("start", "--yes", "--detach", "k", "--", "echo busy > /workspace/d.txt; sleep 120"))
	listing := e.mustRun("ls")
	if !strings.Contains(listing, id) || !strings.Contains(listing, detached) || !strings.Contains(listing, "running") || !strings.Contains(listing, "kubernetes ") {
		t.Errorf("bottle ls should list the kept bottle and the running one:\n%s", listing)
	}
	e.mustRun("stop", detached)
	if b, err := os.ReadFile(filepath.Join(e.rootDir(), detached, "agent", "workspace", "d.txt")); err != nil || string(b) != "busy\n" {
		t.Errorf("stop did not bring the detached bottle's work back: %q %v", b, err)
	}
	for _, b := range []string{id, detached} {
		e.mustRun("rm", b)
	}
	kubeClean(t, e)
}

// TestKubeApprovalGoesLive: on the cluster, the agent asks for a host
// through the supervise server; the request reaches the host (bottle
// requests), the person approves it, and the route takes effect in the
// pod while the agent waits; the upstream, on the node's address inside
// the cluster's namespace, gets the request (issue 14).
func TestKubeApprovalGoesLive(t *testing.T) {
	for _, profile := range []string{"k", "g"} {
		t.Run(profile, func(t *testing.T) {
			later := newUpstreamOn(t, false, kubeNodeIP)
			e := kubeEnv(t, "")
			ee := &egressEnv{env: e}
			cmd := e.command("start", "--yes", profile, "--", strings.Join([]string{
				"/workspace/probe get http://later.example.test/before",
				`/workspace/probe mcp-egress later.example.test 80 "the build needs it"`,
				"/workspace/probe get http://later.example.test/after",
			}, "; "))
			out := startBackground(t, cmd)
			id, req := ee.waitRequest(t, "egress")
			e.mustRun("approve", "--allow-local", "--upstream", later.URL, id, req)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("bottle: %v\n%s", err, out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "fail get") || !strings.Contains(lines[1], "approved "+req) ||
				!strings.HasPrefix(lines[2], "ok get http://later.example.test/after") {
				t.Errorf("agent output:\n%s", out.String())
			}
			if reqs, _ := later.requests(); len(reqs) != 1 || reqs[0].URL.Path != "/after" {
				t.Errorf("the upstream saw %d requests, want the one after the approval", len(reqs))
			}
			kubeClean(t, e)
		})
	}
}

// TestKubeRestrictedNamespaceRefused: a namespace that enforces the
// restricted Pod Security level refuses the isolation's NET_ADMIN; bottle
// says so, naming the namespace, starts nothing and leaves nothing, on the
// cluster or in its state (issue 14).
func TestKubeRestrictedNamespaceRefused(t *testing.T) {
	const ns = "bottle-e2e-restricted"
	if out, err := kubectl(t, "", "create", "namespace", ns); err != nil {
		t.Fatalf("kubectl: %v: %s", err, out)
	}
	t.Cleanup(func() { kubectl(t, "", "delete", "namespace", ns, "--wait=false") })
	if out, err := kubectl(t, "", "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted"); err != nil {
		t.Fatalf("kubectl: %v: %s", err, out)
	}
	e := kubeEnvIn(t, ns, "")
	out, errs, code := e.run("start", "--yes", "k", "--", "echo the agent ran")
	if code == 0 || strings.Contains(out, "the agent ran") {
		t.Fatalf("a restricted namespace ran the bottle: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(errs, "namespace "+ns+" refuses the bottle's pod") || !strings.Contains(errs, "restricted") || !strings.Contains(errs, "NET_ADMIN") {
		t.Errorf("the refusal does not say why:\n%s", errs)
	}
	// After the preflight, the refusal is one line, and the last.
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "bottle: kubernetes: namespace "+ns) {
		t.Errorf("the refusal is not one last line:\n%s", errs)
	}
	kubeClean(t, e)
}

// TestKubeDashboardShowsClusterBottles: the dashboard lists a cluster
// bottle, marked as one, beside a local one, with its pending request (approved then with
// bottle approve: the test's route needs an upstream, which the dashboard
// does not ask for), and the agent goes on with the route (issue 14).
func TestKubeDashboardShowsClusterBottles(t *testing.T) {
	later := newUpstreamOn(t, false, kubeNodeIP)
	e := kubeEnv(t, `
[agents.local]
image = "`+baseImage()+`"
command = ["/bin/sh", "-c"]
memory = "256m"
`)
	ee := &egressEnv{env: e}
	local := strings.TrimSpace(e.mustRun("start", "--yes", "--detach", "local", "--", "sleep 300"))
	cmd := e.command("start", "--yes", "k", "--", strings.Join([]string{
		`/workspace/probe mcp-egress later.example.test 80 "fetch the fixtures"`,
		"/workspace/probe get http://later.example.test/fixtures",
	}, "; "))
	out := startBackground(t, cmd)
	id, req := ee.waitRequest(t, "egress")
	term := newTerminal(t, e, 100, 24, "dashboard")
	term.waitFor("the request on the dashboard", req[:9])
	term.waitFor("the local bottle on the dashboard", local)
	s := term.screen()
	if !strings.Contains(s, id) || !strings.Contains(s, "[kubernetes ") {
		t.Errorf("the dashboard does not show the cluster bottle as one:\n%s", s)
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, local) && strings.Contains(line, "[kubernetes") {
			t.Errorf("the local bottle is shown as a cluster's: %s", line)
		}
	}
	term.keys("q")
	poll(t, 10*time.Second, "the dashboard to quit", term.gone)
	e.mustRun("approve", "--allow-local", "--upstream", later.URL, id, req)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bottle: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ok get http://later.example.test/fixtures") {
		t.Errorf("agent output:\n%s", out.String())
	}
	e.mustRun("rm", local)
	kubeClean(t, e)
}

// TestKubeDetachedApprovalGoesLive: a detached cluster bottle (no start
// attached to bring its folders in step) asks for a host; bottle requests
// finds the request in its pod, bottle approve sends the answer and the
// route back, and the agent carries on through the route (issue 14).
func TestKubeDetachedApprovalGoesLive(t *testing.T) {
	later := newUpstreamOn(t, false, kubeNodeIP)
	e := kubeEnv(t, "")
	ee := &egressEnv{env: e}
	id := strings.TrimSpace(e.mustRun("start", "--yes", "--detach", "k", "--", strings.Join([]string{
		`/workspace/probe mcp-egress later.example.test 80 "the build needs it"`,
		"/workspace/probe get http://later.example.test/detached",
		"sleep 300",
	}, "; ")))
	gotID, req := ee.waitRequest(t, "egress")
	if gotID != id {
		t.Fatalf("the request came from %s, want %s", gotID, id)
	}
	e.mustRun("approve", "--allow-local", "--upstream", later.URL, id, req)
	poll(t, 60*time.Second, "the agent's request through the approved route", func() bool {
		reqs, _ := later.requests()
		return len(reqs) == 1 && reqs[0].URL.Path == "/detached"
	})
	if logs := e.mustRun("logs", id); !strings.Contains(logs, "approved "+req) || !strings.Contains(logs, "ok get http://later.example.test/detached") {
		t.Errorf("the agent's output:\n%s", logs)
	}
	e.mustRun("stop", id)
	e.mustRun("rm", id)
	kubeClean(t, e)
}

// TestKubeGitFetchWhileRunning: while a cluster bottle runs, bottle git
// fetch brings the agent's new branch from the copy of the workspace on
// the bottle's volume into the host's repository as bottle/ID/BRANCH
// (issue 14).
func TestKubeGitFetchWhileRunning(t *testing.T) {
	e := kubeEnv(t, "")
	hostGit(t, e.workdir, "init", "-q")
	os.WriteFile(filepath.Join(e.workdir, "README"), []byte("host\n"), 0o644)
	hostGit(t, e.workdir, "add", "README")
	hostGit(t, e.workdir, "commit", "-qm", "host commit")
	id := strings.TrimSpace(e.mustRun("start", "--yes", "--detach", "k", "--",
		"/workspace/probe git-commit /workspace scratch idea.txt idea; sleep 300"))
	var fetched string
	poll(t, 60*time.Second, "the agent's branch from a running cluster bottle", func() bool {
		fetched = e.mustRun("git", "fetch", id)
		return strings.Contains(fetched, "workspace scratch: bottle/"+id+"/scratch new branch at ")
	})
	if got := hostGit(t, e.workdir, "log", "-1", "--format=%s", "bottle/"+id+"/scratch"); got != "agent idea" {
		t.Errorf("host bottle/%s/scratch is %q (fetch said %q)", id, got, fetched)
	}
	hostGit(t, e.workdir, "fsck", "--no-dangling")
	if head := hostGit(t, e.workdir, "log", "-1", "--format=%s", "HEAD"); head != "host commit" {
		t.Errorf("the host's HEAD moved: %q", head)
	}
	e.mustRun("stop", id)
	e.mustRun("rm", id)
	kubeClean(t, e)
}

// TestKubeContainerfileAgentIsBuiltHere: a profile with a Containerfile
// (as the built-in agents have) runs on the cluster: bottle builds the
// image on this machine with Podman and hands it to the cluster (here the
// import command; a registry push otherwise), and the agent runs in it
// (issue 14).
func TestKubeContainerfileAgentIsBuiltHere(t *testing.T) {
	e := kubeEnv(t, `
[agents.kc]
extends = "k"
containerfile = "kcimg/Containerfile"
`)
	img := filepath.Join(e.dir, "kcimg")
	os.MkdirAll(img, 0o755)
	os.WriteFile(filepath.Join(img, "Containerfile"), []byte("FROM "+baseImage()+"\nRUN echo built-for-the-cluster > /built-marker\n"), 0o644)
	out, errs, code := e.run("start", "--yes", "kc", "--", "cat /built-marker")
	if code != 0 || !strings.Contains(out, "built-for-the-cluster") {
		t.Fatalf("a Containerfile agent on the cluster: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	kubeClean(t, e)
}

// TestKubeGitGateHoldsThePushAndGitFetchBringsIt: a workspace with a
// remote gets the git gate on the cluster too (its mirrors borrowing a
// copy of the host repository's objects on the bottle's volume); the
// agent's push to a local-path remote is held there, never reaching the
// upstream, and bottle git fetch brings it into the host's repository
// (issue 14).
func TestKubeGitGateHoldsThePushAndGitFetchBringsIt(t *testing.T) {
	up := filepath.Join(t.TempDir(), "app.git")
	upstreamRepo(t, up)
	e := kubeEnv(t, `
[agents.kg]
extends = "k"
containerfile = "gitimg/Containerfile"
`)
	gitClientImage(t, filepath.Join(e.dir, "gitimg"))
	workspaceOf(t, e, "origin", up, up)
	upBefore := hostGit(t, up, "for-each-ref")
	stdout, stderr, code := e.run("start", "--yes", "--keep", "kg", "--", agentScript(
		`git checkout -q -b bottle/review && echo fix > fix.txt && git add fix.txt && git commit -qm "agent fix" && echo commit-ok`,
		`git push origin bottle/review 2>&1 && echo push-ok`,
	))
	if code != 0 || !strings.Contains(stdout+stderr, "push-ok") {
		t.Fatalf("start exited %d:\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "origin "+up+", hold") {
		t.Errorf("preflight does not say the remote is held:\n%s", stderr)
	}
	if after := hostGit(t, up, "for-each-ref"); after != upBefore {
		t.Errorf("a held push reached the upstream:\n%s", after)
	}
	id := keptIdentity(t, e)
	fetched := e.mustRun("git", "fetch", id)
	if !strings.Contains(fetched, "origin bottle/review: new branch at ") {
		t.Errorf("bottle git fetch printed %q", fetched)
	}
	if got := hostGit(t, e.workdir, "log", "-1", "--format=%s", "bottle/review"); got != "agent fix" {
		t.Errorf("host bottle/review is %q", got)
	}
	hostGit(t, e.workdir, "fsck", "--no-dangling")
	e.mustRun("rm", id)
	kubeClean(t, e)
}

// TestKubeGCRemovesWhatNobodyWill: bottle gc on cluster bottles: a pod
// whose host state is gone goes, with everything labelled with it, even
// when no other bottle's folder names its cluster; and a detached bottle
// whose agent ended goes (issue 14).
func TestKubeGCRemovesWhatNobodyWill(t *testing.T) {
	e := kubeEnv(t, "")
	orphan := strings.TrimSpace(e.mustRun("start", "--yes", "--detach", "k", "--", "sleep 300"))
	if err := os.RemoveAll(filepath.Join(e.rootDir(), orphan)); err != nil {
		t.Fatal(err)
	}
	if ls := e.mustRun("ls"); !strings.Contains(ls, orphan+" ") || !strings.Contains(ls, "orphaned") {
		t.Errorf("bottle ls does not show the orphaned pod:\n%s", ls)
	}
	if out := e.mustRun("gc"); !strings.Contains(out, "removed pod bottle-"+orphan+" (its state is gone)") {
		t.Errorf("bottle gc printed:\n%s", out)
	}
	poll(t, 60*time.Second, "the orphan's objects to go", func() bool { return kubeLeftovers(t, orphan) == "" })

	done := strings.TrimSpace(e.mustRun("start", "--yes", "--detach", "k", "--", "true"))
	var out string
	poll(t, 60*time.Second, "bottle gc to remove the finished bottle", func() bool {
		out += e.mustRun("gc")
		return strings.Contains(out, "removed "+done+" (its agent ended")
	})
	kubeClean(t, e)
}
