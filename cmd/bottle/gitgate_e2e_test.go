//go:build e2e

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestGitGateHTTPSForwardsAllowedPushAndRefusesTheRest(t *testing.T) {
	const token = "gate-test-token-5f1b2c"
	upRoot := t.TempDir()
	up := filepath.Join(upRoot, "app.git")
	upstreamRepo(t, up)
	srv := newHTTPSGitServer(t, upRoot, token)
	url := srv.url + "/app.git"
	e := newEnv(t, gitAgentConfig+fmt.Sprintf(`
[agents.git.git.remotes.origin]
url = %q
token_env = "BOTTLE_E2E_GIT_TOKEN"
ca_file = %q
`, url, srv.caFile))
	e.extraEnv = append(e.extraEnv, "BOTTLE_E2E_GIT_TOKEN="+token)
	gitClientImage(t, filepath.Join(e.dir, "gitimg"))
	workspaceOf(t, e, "origin", url, up)
	upstreamMoves(t, up)
	mainBefore := hostGit(t, up, "rev-parse", "main")
	// A commit carrying a key, planted in the host's view of the remote (a
	// bind-mode agent can write it): the gate must not take it for one the
	// upstream has, and must scan it.
	key := "AKIA" + "QYLPMN5HHHFPZAM2" // the documented shape of an AWS access key id
	planted := filepath.Join(t.TempDir(), "planted")
	hostGit(t, filepath.Dir(planted), "clone", "-q", up, planted)
	os.WriteFile(filepath.Join(planted, "aws.env"), []byte("AWS_ACCESS_KEY_ID="+key+"\n"), 0o644)
	hostGit(t, planted, "add", "aws.env")
	hostGit(t, planted, "commit", "-qm", "planted")
	hostGit(t, e.workdir, "fetch", "-q", planted, "HEAD:refs/remotes/origin/planted")
	if !rootless() {
		exec.Command("chown", "-R", "1000:1000", e.workdir).Run()
	}

	stdout, stderr, code := e.run("start", "--yes", "--keep", "git", "--", agentScript(
		`git push origin refs/remotes/origin/planted:refs/heads/leak 2>&1 || echo planted-refused`,
		`git fetch origin 2>&1 && echo fetch-ok`,
		`git log -1 --format=%s origin/main`,
		`git checkout -q -b feature origin/main && echo work > work.txt && git add work.txt && git commit -qm "agent work" && echo commit-ok`,
		`git push origin feature 2>&1 && echo push-ok`,
		`git push origin feature:main 2>&1 || echo main-refused`,
		`git push --force origin HEAD~1:feature 2>&1 || echo force-refused`,
		`git push origin --delete feature 2>&1 || echo delete-refused`,
		`git tag v1 && (git push origin v1 2>&1 || echo tag-refused)`,
		`echo "AWS_ACCESS_KEY_ID=`+key+`" > deploy.env && git add deploy.env && git commit -qm "add deploy settings" && (git push origin feature 2>&1 || echo secret-refused)`,
		// The token, split so the script itself does not carry it whole.
		`T1=`+token[:9]+`; T2=`+token[9:]+`; (env; cat $HOME/.gitconfig; cat /workspace/.git/config) 2>/dev/null | grep -c "$T1$T2" || echo no-token-here`,
	))
	out := stdout + stderr
	if code != 0 {
		t.Fatalf("start exited %d:\n%s", code, out)
	}
	for _, want := range []string{
		"planted-refused", "secret found: aws-access-token in aws.env",
		"fetch-ok", "upstream moved", "commit-ok", "push-ok",
		"main-refused", "branch main is protected",
		"force-refused", "force-push to feature is not allowed",
		"delete-refused", "deleting branch feature is not allowed",
		"tag-refused", "tags are not allowed",
		"secret-refused", "secret found: aws-access-token in deploy.env",
		"no-token-here",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the agent's run lacks %q", want)
		}
	}
	if strings.Contains(out, key) {
		t.Errorf("the refusal shows the secret")
	}
	if !strings.Contains(stderr, "git        origin "+url+", forward to "+strings.TrimPrefix(srv.url, "https://")+" with your token from $BOTTLE_E2E_GIT_TOKEN") {
		t.Errorf("preflight lacks the gate's line:\n%s", stderr)
	}
	// Upstream: the allowed branch arrived with the real token; nothing else moved.
	if got := hostGit(t, up, "log", "-1", "--format=%s", "feature"); got != "agent work" {
		t.Errorf("upstream feature is %q, want the agent's commit", got)
	}
	if got := hostGit(t, up, "rev-parse", "main"); got != mainBefore {
		t.Errorf("upstream main moved: %s -> %s", mainBefore, got)
	}
	if branches := hostGit(t, up, "branch", "--list", "leak"); branches != "" {
		t.Error("the planted commit reached the upstream")
	}
	if tags := hostGit(t, up, "tag"); tags != "" {
		t.Errorf("upstream has tags %q", tags)
	}
	if srv.authorized.Load() == 0 {
		t.Error("the upstream never saw the token")
	}
	// The audit: a line per push, through bottle logs.
	id := keptIdentity(t, e)
	audit := e.mustRun("logs", id, "git-gate")
	for _, want := range []string{`"decision":"accepted"`, `"reason":"branch main is protected"`, `secret found: aws-access-token`} {
		if !strings.Contains(audit, want) {
			t.Errorf("bottle logs %s git-gate lacks %s:\n%s", id, want, audit)
		}
	}
	if strings.Contains(audit, key) {
		t.Error("the audit holds the secret")
	}
	e.mustRun("rm", id)
	e.assertClean()
}

func TestGitGateSSHFetchAndPush(t *testing.T) {
	upRoot := t.TempDir()
	up := filepath.Join(upRoot, "app.git")
	upstreamRepo(t, up)
	ssh := newSSHGitServer(t)
	url := fmt.Sprintf("ssh://%s@127.0.0.1:%d%s", ssh.user, ssh.port, up)
	e := newEnv(t, gitAgentConfig+fmt.Sprintf(`
[agents.git.git.remotes.origin]
url = %q
ssh_key = %q
known_hosts = %q
branches = ["bottle/{identity}/*"]
`, url, ssh.key, ssh.knownHosts))
	gitClientImage(t, filepath.Join(e.dir, "gitimg"))
	workspaceOf(t, e, "origin", url, up)
	upstreamMoves(t, up)
	out, errs, code := e.run("start", "--yes", "git", "--", agentScript(
		`git fetch origin 2>&1 && echo fetch-ok`,
		`git log -1 --format=%s origin/main`,
		`git reset -q --hard origin/main`,
		`echo change >> README && git commit -qam "agent change" && echo commit-ok`,
		`git push origin HEAD:refs/heads/bottle/$BOTTLE_IDENTITY/readme 2>&1 && echo push-ok`,
		`git push origin HEAD:refs/heads/elsewhere 2>&1 || echo elsewhere-refused`,
		`ls -a $HOME/.ssh 2>/dev/null | grep -c client || echo no-key-here`,
	))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	// The preflight names where pushes go and which key of the user's goes along.
	if want := fmt.Sprintf("forward to 127.0.0.1:%d with your SSH key %s", ssh.port, ssh.key); !strings.Contains(errs, want) {
		t.Errorf("the preflight lacks %q:\n%s", want, errs)
	}
	for _, want := range []string{"fetch-ok", "upstream moved", "commit-ok", "push-ok", "elsewhere-refused", "is not one the agent may push", "no-key-here"} {
		if !strings.Contains(out, want) {
			t.Errorf("the agent's run lacks %q:\n%s", want, out)
		}
	}
	branches := hostGit(t, up, "branch", "--list", "bottle/*")
	if !strings.Contains(branches, "/readme") {
		t.Errorf("upstream branches %q lack the agent's bottle/ID/readme", branches)
	}
	if strings.Contains(hostGit(t, up, "branch"), "elsewhere") {
		t.Error("the refused branch reached the upstream")
	}
	e.assertClean()
}

func TestGitGateHoldAndGitFetchIntoTheHostRepository(t *testing.T) {
	upRoot := t.TempDir()
	up := filepath.Join(upRoot, "app.git")
	upstreamRepo(t, up)
	e := newEnv(t, gitAgentConfig+`workspace = "copy"
`)
	gitClientImage(t, filepath.Join(e.dir, "gitimg"))
	// The workspace's origin is a local path: out of the bottle's reach, so held.
	workspaceOf(t, e, "origin", up, up)
	upBefore := hostGit(t, up, "for-each-ref")
	stdout, stderr, code := e.run("start", "--yes", "--keep", "git", "--", agentScript(
		`git checkout -q -b bottle/review && echo fix > fix.txt && git add fix.txt && git commit -qm "agent fix" && echo commit-ok`,
		`git push origin bottle/review 2>&1 && echo push-ok`,
		// Work it never pushes: copy mode still gives it back.
		`git checkout -q -b scratch && echo idea > idea.txt && git add idea.txt && git commit -qm "agent idea"`,
	))
	if code != 0 || !strings.Contains(stdout+stderr, "push-ok") {
		t.Fatalf("start exited %d:\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "origin "+up+", hold") || !strings.Contains(stderr, "a local path: pushes are held") {
		t.Errorf("preflight does not say the remote is held:\n%s", stderr)
	}
	if after := hostGit(t, up, "for-each-ref"); after != upBefore {
		t.Errorf("a held push reached the upstream:\n%s", after)
	}
	if strings.Contains(hostGit(t, e.workdir, "branch"), "bottle/review") {
		t.Fatal("the copy-mode workspace changed the host repository")
	}
	id := keptIdentity(t, e)
	// Resumed, the gate still holds the push: the agent fetches it back.
	resumed := e.mustRun("resume", "--yes", "--keep", id, "--", agentScript(
		`git fetch origin 2>&1 && git log -1 --format=%s origin/bottle/review`,
	))
	if !strings.Contains(resumed, "agent fix") {
		t.Errorf("after resume the gate lost the held push:\n%s", resumed)
	}
	fetched := e.mustRun("git", "fetch", id)
	if !strings.Contains(fetched, "origin bottle/review: new branch at ") || !strings.Contains(fetched, "workspace scratch: bottle/"+id+"/scratch new branch at ") {
		t.Errorf("bottle git fetch printed %q", fetched)
	}
	if got := hostGit(t, e.workdir, "log", "-1", "--format=%s", "bottle/"+id+"/scratch"); got != "agent idea" {
		t.Errorf("host bottle/%s/scratch is %q", id, got)
	}
	if got := hostGit(t, e.workdir, "log", "-1", "--format=%s", "bottle/review"); got != "agent fix" {
		t.Errorf("host bottle/review is %q", got)
	}
	hostGit(t, e.workdir, "fsck", "--no-dangling")
	if !rootless() {
		// Root fetched into a user's repository: what it wrote is the user's.
		if out, _ := exec.Command("find", filepath.Join(e.workdir, ".git"), "-uid", "0").Output(); len(out) > 0 {
			t.Errorf("root-owned files in the repository after bottle git fetch:\n%s", out)
		}
	}
	again := e.mustRun("git", "fetch", id)
	if !strings.Contains(again, "up to date") {
		t.Errorf("a second bottle git fetch printed %q", again)
	}
	e.mustRun("rm", id)
	e.assertClean()
}

func TestNoGitRemoteNoGate(t *testing.T) {
	e := newEnv(t, gitAgentConfig)
	gitClientImage(t, filepath.Join(e.dir, "gitimg"))
	hostGit(t, e.workdir, "init", "-q")
	if !rootless() {
		exec.Command("chown", "-R", "1000:1000", e.workdir).Run()
	}
	dry := e.mustRun("start", "--dry-run", "git")
	if !strings.Contains(dry, "no remote: no git gate") || strings.Contains(dry, "git-gate") {
		t.Errorf("dry run:\n%s", dry)
	}
	out := e.mustRun("start", "--yes", "git", "--", agentScript(
		`git ls-remote http://127.0.0.1:7300/origin.git 2>&1 || echo no-gate`,
		`echo "$GIT_CONFIG_COUNT" | grep -q . && echo gate-env || echo no-gate-env`,
	))
	if !strings.Contains(out, "no-gate") || !strings.Contains(out, "no-gate-env") {
		t.Errorf("the agent found a gate:\n%s", out)
	}
	e.assertClean()
}

func TestRunscGitGateFetchAndPush(t *testing.T) {
	upRoot := t.TempDir()
	up := filepath.Join(upRoot, "app.git")
	upstreamRepo(t, up)
	e := newEnv(t, gitAgentConfig+`runtime = "runsc"
`)
	gitClientImage(t, filepath.Join(e.dir, "gitimg"))
	workspaceOf(t, e, "origin", up, up) // a local path: held in the gate
	out := e.mustRun("start", "--yes", "git", "--", agentScript(
		`grep -q "Linux version 4.4.0" /proc/version && echo gvisor`,
		`git fetch origin 2>&1 && echo fetch-ok`,
		`git checkout -q -b bottle/runsc && echo r > r.txt && git add r.txt && git commit -qm "under gVisor" && echo commit-ok`,
		`git push origin bottle/runsc 2>&1 && echo push-ok`,
		`git push origin bottle/runsc:main 2>&1 || echo main-refused`,
	))
	for _, want := range []string{"gvisor", "fetch-ok", "commit-ok", "push-ok", "main-refused", "branch main is protected"} {
		if !strings.Contains(out, want) {
			t.Errorf("the agent's run lacks %q:\n%s", want, out)
		}
	}
	e.assertClean()
}
