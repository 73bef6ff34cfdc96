package lifecycle

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/internal/hostiletest"
	"github.com/bottle-sandbox/bottle/state"
)

// The agent's git folder of a bind workspace is read by go-git on the
// host at the session's end. Found by an attack on issue 19's change: a
// pack whose one object is a delta on itself made go-git recurse until the
// Go runtime killed bottle (a stack overflow, which no recover catches),
// before the quarantine ran; the git metadata the agent planted stayed in
// the workspace and the person's git ran it, and every later stop, rm, gc
// or git fetch died the same way. Now the quarantine runs first, and
// go-git reads what a container wrote in a process of its own.

// plantSettleBomb puts, as the agent could while it ran, a nested
// repository whose config runs a program into the workspace, and a branch
// whose tip is the self-referencing delta into the agent's git folder. It
// returns the file the planted program makes.
func plantSettleBomb(t *testing.T, w *world, bomb bool) string {
	t.Helper()
	pwned := filepath.Join(w.base, "pwned")
	sub := filepath.Join(w.workdir, "docs")
	os.MkdirAll(sub, 0o755)
	run(t, sub, "git", "init", "-q", "--template=", "-b", "main")
	run(t, sub, "git", "config", "core.fsmonitor", "touch "+pwned+"; false")
	if os.Getuid() == 0 {
		run(t, w.base, "chown", "-R", "1000:1000", sub)
	}
	if !bomb {
		return pwned
	}
	git := agent.GitFolder(w.b.AgentDir()).Path()
	name, pack, idx := hostiletest.SelfDeltaPack()
	os.MkdirAll(filepath.Join(git, "objects", "pack"), 0o755)
	if err := os.WriteFile(filepath.Join(git, "objects", "pack", name+".pack"), pack, 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(git, "objects", "pack", name+".idx"), idx, 0o644)
	os.MkdirAll(filepath.Join(git, "refs", "heads"), 0o755)
	os.WriteFile(filepath.Join(git, "refs", "heads", "feature"), []byte(hostiletest.SelfDeltaTip+"\n"), 0o644)
	return pwned
}

// TestSettleChild runs one host step on a world the parent made, in a
// process of its own (a fatal error takes the whole process).
func TestSettleChild(t *testing.T) {
	dir, id, step := os.Getenv("A19_ROOT"), os.Getenv("A19_ID"), os.Getenv("A19_STEP")
	if dir == "" {
		return // run by TestSettleSurvivesACraftedGitFolder only
	}
	root := state.Root{Dir: dir}
	b := root.Bottle(id)
	env := Env{Root: root, Engine: newFakeEngine(), Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr, Version: "test"}
	var err error
	switch step {
	case "settle":
		err = Settle(context.Background(), b, os.Stderr)
	case "rm":
		err = Remove(context.Background(), env, b, id)
	case "gc":
		os.Remove(filepath.Join(b.Dir, state.PreserveFile))
		err = GC(context.Background(), env)
	case "fetch":
		_, err = GitFetch(context.Background(), env, id, "")
	}
	t.Logf("%s returned: %v", step, err)
}

func runChild(t *testing.T, w *world, step string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSettleChild$", "-test.v")
	cmd.Env = append(os.Environ(), "A19_ROOT="+w.root.Dir, "A19_ID="+w.b.ID, "A19_STEP="+step)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestSettleSurvivesACraftedGitFolder(t *testing.T) {
	t.Run("without the pack the quarantine moves the planted repository", func(t *testing.T) {
		w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
		plantSettleBomb(t, w, false)
		if out, err := runChild(t, w, "settle"); err != nil {
			t.Fatalf("settle: %v\n%s", err, out)
		}
		if _, err := os.Lstat(filepath.Join(w.workdir, "docs", ".git")); err == nil {
			t.Fatalf("the quarantine left docs/.git in the workspace")
		}
	})

	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
	pwned := plantSettleBomb(t, w, true)
	out, err := runChild(t, w, "settle")
	t.Logf("settle: %v\n%s", err, tail(out, 6))
	if err != nil || strings.Contains(out, "stack overflow") && !strings.Contains(out, "did not come back") {
		t.Errorf("bottle died at the session's end: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(w.workdir, "docs", ".git")); err == nil {
		t.Errorf("docs/.git, planted by the agent, is still in the workspace %s", w.workdir)
	}
	// The person, in the workspace they own, asks git where they stand.
	cmd := exec.Command("git", "-c", "safe.directory=*", "status", "--short")
	cmd.Dir = filepath.Join(w.workdir, "docs")
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	cmd.Run()
	if _, err := os.Stat(pwned); err == nil {
		t.Errorf("the person's git status in docs ran the program the agent's config names (%s made)", pwned)
	}
	// What settles again lives through it too.
	for _, step := range []string{"fetch", "gc", "rm"} {
		out, err := runChild(t, w, step)
		t.Logf("%s: %v\n%s", step, err, tail(out, 4))
		if err != nil {
			t.Errorf("bottle %s died: %v", step, err)
		}
	}
	if _, err := os.Stat(w.b.Dir); err == nil {
		t.Errorf("bottle rm left the bottle's folder: %s", w.b.Dir)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var keep []string
	for _, l := range lines {
		if strings.Contains(l, "fatal error") || strings.Contains(l, "returned") || strings.Contains(l, "goroutine stack exceeds") {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[:n]
	}
	return strings.Join(keep, "\n")
}

// The quarantine walks the whole bind workspace for git metadata the agent
// made. Found by an attack on issue 19's change: a folder nested deeper
// than a path may name (PATH_MAX), which the agent makes in a moment one
// folder at a time, made the walk fail with ENAMETOOLONG before anything
// was moved, and the person's git then ran the planted program. Now the
// walk goes down by descriptor and carries on past what it cannot do.
func TestQuarantineGoesDeeperThanAPathMayName(t *testing.T) {
	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
	pwned := plantSettleBomb(t, w, false)
	plantDeepFolder(t, filepath.Join(w.workdir, "zz"), true)
	err := Settle(context.Background(), w.b, io.Discard)
	t.Logf("settle: %.300v", err)
	for _, p := range []string{filepath.Join(w.workdir, "docs", ".git")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s, planted by the agent, is still in the workspace after the settle", p)
		}
	}
	cmd := exec.Command("git", "-c", "safe.directory=*", "status", "--short")
	cmd.Dir = filepath.Join(w.workdir, "docs")
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	cmd.Run()
	if _, err := os.Stat(pwned); err == nil {
		t.Errorf("the person's git status in docs ran the program the agent's config names")
	}
	if deep := deepestGit(t, filepath.Join(w.workdir, "zz")); deep {
		t.Errorf("the .git at the bottom of the deep folder is still there")
	}
}

// plantDeepFolder makes dir/d.../d... deeper than a path may name, one
// folder at a time (as the agent's shell would: cd a; mkdir a; ...), with
// a .git at the bottom when withGit.
func plantDeepFolder(t *testing.T, dir string, withGit bool) {
	t.Helper()
	long := strings.Repeat("d", 250)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 { // 20 × 251 bytes: over 4096
		if err := unix.Mkdirat(fd, long, 0o755); err != nil {
			t.Fatal(err)
		}
		nfd, err := unix.Openat(fd, long, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = nfd
	}
	if withGit {
		if err := unix.Mkdirat(fd, ".git", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	unix.Close(fd)
}

// deepestGit reports whether the folder plantDeepFolder made still has its .git.
func deepestGit(t *testing.T, dir string) bool {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return false
	}
	long := strings.Repeat("d", 250)
	for range 20 {
		nfd, err := unix.Openat(fd, long, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			return false
		}
		fd = nfd
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	return unix.Fstatat(fd, ".git", &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}

// Not an attack, a loss (branch attack19): the settle cannot tell git
// metadata the agent made from the person's own, made after the bottle's
// first start while the bottle was stopped (git init of a new module, a
// clone into the project). bottle rm settles, quarantines the person's
// new repository's .git into the bottle's folder, and then removes that
// folder: the repository's history is gone. So does gc.

// bottle rm removes the bottle's folder, but never what its settle moved
// out of the workspace: the settle cannot tell the agent's git metadata
// from a repository the person made meanwhile. Found by an attack on issue
// 19's change: rm quarantined the person's new repository's .git, then
// deleted the quarantine with the bottle.
func TestRemoveKeepsWhatItQuarantined(t *testing.T) {
	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
	repo := filepath.Join(w.workdir, "newmod")
	os.MkdirAll(repo, 0o755)
	run(t, repo, "git", "init", "-q", "--template=", "-b", "main")
	os.WriteFile(filepath.Join(repo, "a.txt"), []byte("a week of the person's work\n"), 0o644)
	run(t, repo, "git", "add", "a.txt")
	run(t, repo, "git", "commit", "-qm", "mine")
	var errb bytes.Buffer
	w.env.Stderr = &errb
	if err := Remove(context.Background(), w.env, w.b, w.b.ID); err != nil {
		t.Fatal(err)
	}
	// Kept with its .git and HEAD renamed, so no git finds it there.
	kept := filepath.Join(w.root.Dir, state.KeptQuarantine, w.b.ID, "newmod", ".git.quarantined")
	if _, err := os.Stat(filepath.Join(repo, ".git")); err != nil {
		if _, err := os.Stat(filepath.Join(kept, "HEAD.quarantined")); err != nil {
			t.Errorf("bottle rm lost the .git of the person's repository %s: not in the workspace, not kept at %s", repo, kept)
		}
		if !strings.Contains(errb.String(), kept[:len(kept)-len("/newmod/.git.quarantined")]) {
			t.Errorf("the person was not told where it is kept:\n%s", errb.String())
		}
	}
	if _, err := os.Stat(w.b.Dir); err == nil {
		t.Errorf("the bottle's folder is still there")
	}
}

// A git folder of the agent's that kills the reader (a self-referencing
// delta) after it brought another branch: what the reader wrote into the
// person's repository before it died stayed root's (rootful), and the
// person's own git could not write there. The reader's parent hands it to
// the owner.
func TestGitFetchThatDiesLeavesNothingRoots(t *testing.T) {
	// Its check bites as root (CI's unit run): rootless, nothing is root's.
	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
	plantReaderBomb(t, w)

	out, err := runChild(t, w, "fetch")
	t.Logf("fetch: %v\n%s", err, tail(out, 4))
	filepath.WalkDir(filepath.Join(w.workdir, ".git"), func(p string, d fs.DirEntry, err error) error {
		if fi, err := os.Lstat(p); err == nil && fi.Sys().(*syscall.Stat_t).Uid == 0 {
			t.Errorf("%s is root's in the person's repository", p)
		}
		return nil
	})
}

// plantReaderBomb leaves in the agent's git folder a good branch (a-good,
// a commit of the agent's) and, after it, one (b-bad) whose tip is a
// self-referencing delta: the git reader brings the first, then dies.
func plantReaderBomb(t *testing.T, w *world) {
	t.Helper()
	git := agent.GitFolder(w.b.AgentDir()).Path()
	clone := filepath.Join(w.base, "agent-clone")
	run(t, w.base, "git", "clone", "-q", filepath.Join(w.base, "upstream.git"), clone)
	os.WriteFile(filepath.Join(clone, "agent.txt"), []byte("the agent's work\n"), 0o644)
	run(t, clone, "git", "add", "agent.txt")
	run(t, clone, "git", "-c", "user.name=a", "-c", "user.email=a@a", "commit", "-qm", "agent")
	push := exec.Command("git", "push", "-q", git, "HEAD:refs/heads/a-good")
	push.Dir = clone
	gitHome := filepath.Join(w.base, "git-home") // the local transport drops GIT_CONFIG_*: a global config of its own
	os.MkdirAll(gitHome, 0o700)
	os.WriteFile(filepath.Join(gitHome, ".gitconfig"), []byte("[safe]\n\tdirectory = *\n"), 0o600)
	push.Env = append(os.Environ(), "HOME="+gitHome, "GIT_CONFIG_NOSYSTEM=1")
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("push to the agent's git folder: %v %s", err, out)
	}
	name, pack, idx := hostiletest.SelfDeltaPack()
	os.MkdirAll(filepath.Join(git, "objects", "pack"), 0o755)
	os.WriteFile(filepath.Join(git, "objects", "pack", name+".pack"), pack, 0o644)
	os.WriteFile(filepath.Join(git, "objects", "pack", name+".idx"), idx, 0o644)
	os.WriteFile(filepath.Join(git, "refs", "heads", "b-bad"), []byte(hostiletest.SelfDeltaTip+"\n"), 0o644)
}
