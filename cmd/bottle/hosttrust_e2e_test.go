//go:build e2e

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/spec"
)

// The host-trust attacks: what a hostile agent (or repository) writes must
// never be run, read or trusted by the host. Each test plays the attack in a
// real bottle, then does what the person would do afterwards on the host.

func TestBindAgentCannotRedirectHostGitThroughCommondir(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	gitWorkspace(t, e)
	marks := e.markDir()
	out, errs, code := e.run("start", "--yes", "git", "--", strings.Join([]string{
		"cd /workspace",
		"mkdir -p evil && cp -r .git/objects .git/refs evil/",
		plantFSMonitor("evil/config", marks, "commondir"),
		"echo ../evil > .git/commondir && echo planted",
	}, "; "))
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try:\n%s", out)
	}
	hostGitRunsNothing(t, e, e.workdir)
	if _, err := os.Stat(filepath.Join(e.workdir, ".git", "commondir")); err == nil {
		t.Error("the host repository has a commondir the agent wrote")
	}
}

func TestBindAgentCannotReplaceHostGitFolder(t *testing.T) {
	testReplaceGitFolder(t, "")
}

func TestRunscBindAgentCannotReplaceHostGitFolder(t *testing.T) {
	testReplaceGitFolder(t, "runtime = \"runsc\"\n")
}

func TestBindAgentNestedRepositoryIsQuarantined(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	gitWorkspace(t, e)
	marks := e.markDir()
	out, errs, code := e.run("start", "--yes", "git", "--", strings.Join([]string{
		"cd /workspace",
		"mkdir -p sub/deeper && git init -q sub/deeper && " + plantFSMonitor("sub/deeper/.git/config", marks, "nested"),
		// A bare repository's shape in a folder: git in it takes it for one.
		"mkdir -p bare && git init -q --bare bare && " + plantBareFSMonitor("bare", marks, "bare"),
		"echo planted",
	}, "; "))
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try:\n%s", out)
	}
	hostGitRunsNothing(t, e, filepath.Join(e.workdir, "sub", "deeper"), filepath.Join(e.workdir, "bare"))
	if !strings.Contains(errs, "sub/deeper/.git") {
		t.Errorf("the person was not told of the repository the agent made:\n%s", errs)
	}
}

func TestBindWorktreeGitFileIsProtected(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	main := filepath.Join(e.dir, "main")
	os.MkdirAll(main, 0o755)
	hostGit(t, main, "init", "-q")
	os.WriteFile(filepath.Join(main, "file"), []byte("one\n"), 0o644)
	hostGit(t, main, "add", "file")
	hostGit(t, main, "commit", "-qm", "first")
	os.Remove(e.workdir)
	hostGit(t, main, "worktree", "add", "-q", e.workdir, "-b", "wt")
	e.trustRepository(main) // a worktree's main repository, which the person's config names
	chownToOwner(t, e, main)
	chownToOwner(t, e, e.workdir)
	marks := e.markDir()
	out, errs, code := e.run("start", "--yes", "git", "--", strings.Join([]string{
		"cd /workspace",
		"git init -q --bare /workspace/evil && " + plantFSMonitor("/workspace/evil/config", marks, "worktree"),
		"(echo 'gitdir: evil' > .git) 2>&1",
		"echo planted",
	}, "; "))
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try:\n%s", out)
	}
	hostGitRunsNothing(t, e, e.workdir)
	if data, _ := os.ReadFile(filepath.Join(e.workdir, ".git")); !strings.Contains(string(data), "gitdir: "+main) {
		t.Errorf("the worktree's .git file changed: %q", data)
	}
}

func TestBindNoRepositoryGitInitIsQuarantined(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	marks := e.markDir()
	out, errs, code := e.run("start", "--yes", "git", "--", strings.Join([]string{
		"cd /workspace",
		"git init -q . && " + plantFSMonitor(".git/config", marks, "init"),
		"echo planted",
	}, "; "))
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try:\n%s", out)
	}
	hostGitRunsNothing(t, e, e.workdir)
}

// The agent's git works on a bind workspace as on any repository, but writes
// only to its own git folder: the host's HEAD, config and hooks stay as they
// were, and the agent's commits come back as bottle/IDENTITY/BRANCH.
func TestBindAgentCommitsComeBackAsBranches(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	gitWorkspace(t, e)
	configBefore, _ := os.ReadFile(filepath.Join(e.workdir, ".git", "config"))
	headBefore := hostGit(t, e.workdir, "rev-parse", "HEAD")
	out, errs, code := e.run("start", "--yes", "git", "--", strings.Join([]string{
		`cd /workspace && git config --global user.name agent && git config --global user.email agent@bottle`,
		`git log --format=%s | grep -q first && echo history-ok`,
		`echo two >> file && git status --short | grep -q 'M file' && echo status-ok`,
		`git commit -qam "agent commit" 2>&1 && echo commit-ok`,
		`git checkout -qb feature 2>&1 && echo three >> file && git commit -qam "on feature" && echo branch-ok`,
		`(echo '#!/bin/sh' > .git/hooks/pre-commit) 2>/dev/null; git config core.hooksPath /tmp; echo done`,
	}, "; "))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"history-ok", "status-ok", "commit-ok", "branch-ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("agent output lacks %s:\n%s", want, out)
		}
	}
	t.Logf("%s\n%s", out, errs)
	id := identityIn(t, errs)
	if head := hostGit(t, e.workdir, "rev-parse", "HEAD"); head != headBefore {
		t.Errorf("the host's HEAD moved to %s", head)
	}
	for branch, subject := range map[string]string{"main": "agent commit", "feature": "on feature"} {
		if got := hostGit(t, e.workdir, "log", "-1", "--format=%s", "bottle/"+id+"/"+branch); got != subject {
			t.Errorf("bottle/%s/%s is %q, want %q", id, branch, got, subject)
		}
	}
	if !strings.Contains(errs, "bottle/"+id+"/feature") {
		t.Errorf("the person was not told where the agent's branches are:\n%s", errs)
	}
	if after, _ := os.ReadFile(filepath.Join(e.workdir, ".git", "config")); string(after) != string(configBefore) {
		t.Errorf(".git/config changed:\n%s", after)
	}
	if _, err := os.Stat(filepath.Join(e.workdir, ".git", "hooks", "pre-commit")); err == nil {
		t.Error("a hook appeared in the host repository")
	}
	hostGit(t, e.workdir, "fsck", "--no-dangling")
	e.assertClean()
}

// A working directory's bottle.toml (a cloned repository's) names a file of
// the user's as the prompt: the host would read it into the bottle.
func TestWorkdirConfigCannotReadHostFiles(t *testing.T) {
	const secret = "host-secret-7f3a9c"
	e := newEnv(t, "")
	outside := filepath.Join(e.dir, "secret.txt")
	os.WriteFile(outside, []byte(secret+"\n"), 0o644)
	os.Symlink(outside, filepath.Join(e.workdir, "notes.md"))
	e.extraEnv = append(e.extraEnv, "BOTTLE_TEST_SENTINEL="+secret)
	for _, p := range []string{outside, "../secret.txt", "notes.md", "/proc/self/environ"} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			os.WriteFile(filepath.Join(e.workdir, "bottle.toml"), []byte("[agents.t]\nprompt_file = \""+p+"\"\n"), 0o644)
			out, errs, code := e.run("start", "--yes", "t", "--", "-c", `cat "$BOTTLE_PROMPT_FILE"`)
			if strings.Contains(out, secret) {
				t.Fatalf("the agent read the host's file %s:\n%s", p, out)
			}
			if code != exitFailure || !strings.Contains(errs, "bottle.toml:2: agents.t.prompt_file:") || !strings.Contains(errs, "outside the working directory") {
				t.Errorf("exit %d, want %d naming the file, line and key:\n%s", code, exitFailure, errs)
			}
			e.assertClean()
		})
	}
}

// A bind-mode agent writes the working directory's bottle.toml; the next
// resume --yes (or the dashboard's auto-resume) must not apply it.
func TestResumeDoesNotApplyAWorkdirConfigTheAgentChanged(t *testing.T) {
	e := newEnv(t, "")
	script := `echo "planted=$PLANTED"; printf '[agents.t]\nenv = { PLANTED = "yes" }\n' >> /workspace/bottle.toml`
	out, errs, code := e.run("start", "--yes", "--keep", "t", "--", "-c", script)
	if code != 0 || !strings.Contains(out, "planted=\n") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	id := identityIn(t, errs)
	out, errs, code = e.run("resume", "--yes", id)
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out, "planted=yes") {
		t.Fatalf("resume applied the bottle.toml the agent wrote:\n%s", out)
	}
	if !strings.Contains(errs, "bottle.toml changed since "+id+" first started") || !strings.Contains(errs, `+env = { PLANTED = "yes" }`) || !strings.Contains(errs, "not applied") {
		t.Errorf("resume did not show and refuse the change:\n%s", errs)
	}
	e.mustRun("rm", id)
}

// A bind-mode agent that could redirect the repository's config (before the
// git folder was its own) adds a remote: the next resume must not forward
// it, nor hand it the user's SSH key.
func TestResumeForwardsOnlyRemotesRecordedAtFirstStart(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	home := filepath.Join(e.dir, "home")
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(home, ".ssh", "id_ed25519")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	e.extraEnv = append(e.extraEnv, "HOME="+home)
	up := filepath.Join(e.dir, "up.git")
	upstreamRepo(t, up)
	workspaceOf(t, e, "origin", up, up)
	script := strings.Join([]string{
		"cd /workspace",
		"mkdir -p evil && cp -r .git/objects .git/refs .git/HEAD evil/ && cp .git/config evil/config",
		`printf '[remote "exfil"]\n\turl = ssh://git@127.0.0.1:2222/x.git\n' >> evil/config`,
		"echo ../evil > .git/commondir; echo planted",
	}, "; ")
	out, errs, code := e.run("start", "--yes", "--keep", "git", "--", script)
	if code != 0 || !strings.Contains(out, "planted") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	id := identityIn(t, errs)
	_, errs, _ = e.run("resume", "--yes", id, "--", "true")
	if strings.Contains(errs, "exfil") {
		t.Errorf("resume serves a remote the agent added:\n%s", errs)
	}
	secrets, _ := os.ReadDir(filepath.Join(e.rootDir(), id, "git-gate", "secret"))
	for _, s := range secrets {
		if strings.HasPrefix(s.Name(), "exfil") {
			t.Errorf("the gate holds a credential for the agent's remote: %s", s.Name())
		}
	}
	e.run("rm", id)
}

// A bug in the proxy (or in the supervise server beside it) gives code
// execution in the proxy's container: it must not widen what the gateway,
// the second check outside the pod, lets through.
func TestProxyContainerCannotWidenTheGateway(t *testing.T) {
	e := newEnv(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	id := strings.TrimSpace(e.mustRun("start", "--yes", "--detach", "t", "--", "-c", "sleep 60"))
	defer e.run("rm", id)
	proxy := spec.ContainerName(id, "egress")
	if out, err := exec.Command("podman", "cp", probeBin(t), proxy+":/probe").CombinedOutput(); err != nil {
		t.Fatalf("podman cp: %v\n%s", err, out)
	}
	inProxy := func(args ...string) string {
		out, _ := exec.Command("podman", append([]string{"exec", proxy, "/probe"}, args...)...).CombinedOutput()
		return string(out)
	}
	sock := "/run/bottle/egress/gateway/gateway.sock"
	dest := fmt.Sprintf("127.0.0.1:%d", port)
	if out := inProxy("gateway", sock, dest); !strings.HasPrefix(out, "fail") {
		t.Fatalf("the gateway let the proxy reach %s before any change: %s", dest, out)
	}
	widened := fmt.Sprintf(`{"routes":[{"host":"127.0.0.1","ports":[%d],"intercept":false}]}`, port)
	t.Logf("proxy writes its routes: %s", inProxy("write", "/run/bottle/egress/policy/routes.json", widened))
	time.Sleep(1100 * time.Millisecond) // past the routes file's mtime granularity
	if out := inProxy("gateway", sock, dest); !strings.HasPrefix(out, "fail") {
		t.Errorf("after the proxy rewrote its routes, the gateway lets it reach %s: %s", dest, out)
	}
}

// An agent asks to reach an address on this machine (the person might take
// it for any host): approving it must say so and take --allow-local.
func TestApprovingALocalAddressNeedsAllowLocal(t *testing.T) {
	local := newUpstream(t, false)
	ee := newEgressEnv(t, "")
	cmd := ee.command("start", "--yes", "p", "--", strings.Join([]string{
		`probe mcp-egress 127.0.0.1 ` + local.Port + ` "the tests need it"`,
		`probe getproxied ` + local.URL + `/reached`,
	}, "; "))
	out := startBackground(t, cmd)
	id, req := ee.waitRequest(t, "egress")
	if listing := ee.mustRun("requests"); !strings.Contains(listing, "this machine or its network") {
		t.Errorf("bottle requests does not say where 127.0.0.1 leads:\n%s", listing)
	}
	stdout, stderr, code := ee.run("approve", id, req)
	if code == 0 || !strings.Contains(stderr, "reaches this machine or its network (loopback 127.0.0.0/8)") || !strings.Contains(stderr, "--allow-local") {
		t.Errorf("approve of 127.0.0.1 without --allow-local: exit %d\n%s%s", code, stdout, stderr)
	}
	if listing := ee.mustRun("requests"); !strings.Contains(listing, req) {
		t.Errorf("the refused approval decided the request:\n%s", listing)
	}
	ee.mustRun("approve", "--allow-local", id, req)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bottle: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ok getproxied") {
		t.Errorf("approved with --allow-local, the agent still cannot reach it:\n%s", out.String())
	}
}

// What an agent sends lands in the audit logs; bottle logs must not pass
// its bidi overrides or C1 controls to the person's terminal.
func TestLogsNeverPassBidiOrControlCharacters(t *testing.T) {
	ee := newEgressEnv(t, "")
	_, errs, _ := ee.run("start", "--yes", "--keep", "p", "--", `probe get "http://blocked.example.test/x%E2%80%AEy%C2%9Bz%E2%81%A6"`)
	id := identityIn(t, errs)
	defer ee.run("rm", id)
	out := ee.mustRun("logs", id, "egress")
	if !strings.Contains(out, "blocked.example.test") {
		t.Fatalf("the audit lacks the request:\n%s", out)
	}
	if strings.ContainsAny(out, "\u202e\u009b\u2066") {
		t.Errorf("bottle logs passed bidi or C1 characters through: %q", out)
	}
	if !strings.Contains(out, `\u202e`) {
		t.Errorf("the override is not shown escaped: %q", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("not a JSON line any more: %q", line)
		}
	}
}

// A bottle whose launcher was killed (or that ran detached) and whose agent
// has ended has nobody to tear it down: gc must, unless it is kept.
func TestGcRemovesBottlesWhoseAgentEndedWithNoLauncher(t *testing.T) {
	e := newEnv(t, "")
	cmd := e.command("start", "--yes", "t", "--", "-c", "echo up; sleep 3")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "the agent to run", func() bool { return strings.Contains(out.String(), "up") })
	cmd.Process.Kill() // the launcher dies; the pod runs on
	cmd.Wait()
	// A bind start runs beside no running bottle in its folder: each waits
	// for the agent before it to end.
	agentsEnd := func() {
		poll(t, 30*time.Second, "the agents to end", func() bool {
			ps, _ := exec.Command("podman", "ps", "--filter", "label="+spec.LabelRoot+"="+sidecars.RootLabel(e.rootDir()), "--filter", "label="+spec.LabelService+"=agent", "--format", "{{.Names}}").Output()
			return strings.TrimSpace(string(ps)) == ""
		})
	}
	agentsEnd()
	detached := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c", "true"))
	agentsEnd()
	kept := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c", "true"))
	e.mustRun("stop", kept)
	agentsEnd()
	killed := identityIn(t, out.String())
	gc := e.mustRun("gc")
	// (Podman 5 may have removed the killed launcher's pod already; gc
	// then removes its state as it does for any pod that is gone.)
	if !strings.Contains(gc, "removed "+detached+" (its agent ended") || !strings.Contains(gc, killed) {
		t.Errorf("gc output, which should name %s and %s:\n%s", killed, detached, gc)
	}
	if s := e.states(); len(s) != 1 || s[0] != kept {
		t.Errorf("state left: %v, want only the kept %s", s, kept)
	}
	e.mustRun("rm", kept)
	e.assertClean()
}

// An agent floods the person with requests, or sends huge ones: each is a
// file on the host and a line on the person's screen.
func TestSuperviseRequestsAreBounded(t *testing.T) {
	ee := newEgressEnv(t, "")
	out, errs, code := ee.run("start", "--yes", "--keep", "p", "--", strings.Join([]string{
		`i=0; while [ $i -lt 205 ]; do probe mcp-notify "note $i"; i=$((i+1)); done | cut -d' ' -f1-2 | sort | uniq -c`,
		`head -c 5000 /dev/zero | tr '\0' x > /tmp/big && probe mcp-notify "$(cat /tmp/big)"`,
	}, "; "))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	id := identityIn(t, errs)
	defer ee.run("rm", id)
	if !strings.Contains(out, "200 ok mcp-notify") || !strings.Contains(out, "5 fail mcp-notify") {
		t.Errorf("the flood was not bounded at 200:\n%s", out)
	}
	files, _ := os.ReadDir(filepath.Join(ee.rootDir(), id, "supervise", "requests"))
	if len(files) > 200 {
		t.Errorf("%d request files on the host", len(files))
	}
}

// A cloned repository's bottle.toml names its own Containerfile: its RUN
// steps must reach nothing, neither the host nor its network.
func TestWorkdirContainerfileBuildsWithNoNetwork(t *testing.T) {
	h := newHits(t)
	e := newEnv(t, "")
	// A profile of the working directory's own: it may start FROM what the
	// person's build_from lists.
	e.allowBuildFrom(baseImage())
	os.WriteFile(filepath.Join(e.workdir, "Containerfile"), []byte(buildLeak(h.url)), 0o644)
	os.WriteFile(filepath.Join(e.workdir, "bottle.toml"), []byte("[agents.repo]\ncontainerfile = \"Containerfile\"\ncommand = [\"/bin/sh\", \"-c\", \"cat /leak /nets\"]\n"), 0o644)
	out, errs, code := e.run("start", "--yes", "repo")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if n := h.n.Load(); n != 0 || strings.Contains(out, "leaked") {
		t.Errorf("the build reached the host's loopback (%d requests):\n%s", n, out)
	}
	if strings.TrimSpace(strings.ReplaceAll(out, "no-network\n", "")) != "lo" {
		t.Errorf("the build saw network interfaces other than lo:\n%s", out)
	}
	if !strings.Contains(errs, "with no network and local images only") {
		t.Errorf("the preflight does not say the build is isolated:\n%s", errs)
	}
	if !strings.Contains(errs, "  step       1: FROM "+baseImage()+"\n") || !strings.Contains(errs, "  step       2: RUN (wget -q -T 3 -O - "+h.url) {
		t.Errorf("the preflight does not show the build's steps as parsed:\n%s", errs)
	}
	e.assertClean()
}

// An approved capability request is the agent's own Containerfile: it too
// builds with no network.
func TestCapabilityBuildsWithNoNetwork(t *testing.T) {
	h := newHits(t)
	ee := newEgressEnv(t, "")
	cmd := ee.command("start", "--yes", "--keep", "p", "--", strings.Join([]string{
		`if [ -f /leak ]; then cat /leak /nets; exit 0; fi`,
		`printf 'FROM %s\nRUN (wget -q -T 3 -O - ` + h.url + `/leak || echo no-network) > /leak; ` + listNets + `\n' "$(probe mcp-image)" > /tmp/cf`,
		`probe mcp-capability /tmp/cf "needs a tool"`,
		`sleep 60`,
	}, "; "))
	startBackground(t, cmd)
	id, req := ee.waitRequest(t, "capability")
	ee.mustRun("approve", id, req)
	cmd.Wait()
	out, errs, code := ee.run("resume", "--yes", id)
	defer ee.run("rm", id)
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", code, out, errs)
	}
	if n := h.n.Load(); n != 0 || strings.Contains(out, "leaked") {
		t.Errorf("the agent's build reached the host's loopback (%d requests):\n%s", n, out)
	}
	if strings.TrimSpace(strings.ReplaceAll(out, "no-network\n", "")) != "lo" {
		t.Errorf("the agent's build saw network interfaces other than lo:\n%s", out)
	}
}

// A build that is not the user's own reaches what the user's build_egress
// allows, through the bottle's egress proxy (which audits it), and nothing
// else: not another host, not the host's loopback.
func TestIsolatedBuildReachesOnlyBuildEgress(t *testing.T) {
	h := newHits(t)
	mirror := newUpstream(t, false)
	e := newEnv(t, `
[[agents.t.build_egress]]
host = "packages.example.test"
ports = [80]
upstream = "`+mirror.URL+`"
`)
	cf := "FROM " + baseImage() + "\n" +
		"RUN wget -q -O /pkg http://packages.example.test/pkg.tar || echo no-package > /pkg\n" +
		"RUN (wget -q -O - http://other.example.test/ || echo refused-other) > /other\n" +
		"RUN (wget -q -O - " + h.url + "/leak || echo refused-loopback) > /leak\n"
	os.WriteFile(filepath.Join(e.workdir, "Containerfile"), []byte(cf), 0o644)
	os.WriteFile(filepath.Join(e.workdir, "bottle.toml"), []byte("[agents.repo]\nextends = \"t\"\ncontainerfile = \"Containerfile\"\ncommand = [\"/bin/sh\", \"-c\", \"cat /pkg /other /leak\"]\n"), 0o644)
	out, errs, code := e.run("start", "--yes", "--keep", "repo")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	id := identityIn(t, errs)
	defer e.run("rm", id)
	if !strings.Contains(out, "hello from upstream /pkg.tar") {
		t.Errorf("the build could not fetch from its build_egress route:\n%s", out)
	}
	if !strings.Contains(out, "refused-other") || !strings.Contains(out, "refused-loopback") || h.n.Load() != 0 {
		t.Errorf("the build reached what build_egress does not allow (%d hits):\n%s", h.n.Load(), out)
	}
	if !strings.Contains(errs, "build      packages.example.test:80") {
		t.Errorf("the preflight does not show the build's route:\n%s", errs)
	}
	audit := e.mustRun("logs", id, "egress")
	if !strings.Contains(audit, "packages.example.test") || !strings.Contains(audit, "other.example.test") {
		t.Errorf("the proxy's audit does not show the build's requests:\n%s", audit)
	}
}
