package workspace

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main", "-c", "safe.directory=*"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func repo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	os.WriteFile(filepath.Join(dir, "f"), []byte("one\n"), 0o644)
	git(t, dir, "add", "f")
	git(t, dir, "commit", "-qm", "first")
	git(t, dir, "remote", "add", "origin", "https://git.example.com/a.git")
	git(t, dir, "config", "--add", "remote.origin.pushurl", "ssh://git@git.example.com/a.git")
	return dir
}

func TestSurvey(t *testing.T) {
	dir := repo(t)
	os.MkdirAll(filepath.Join(dir, "vendor", "lib"), 0o755)
	git(t, filepath.Join(dir, "vendor", "lib"), "init", "-q")
	git(t, dir, "init", "-q", "--bare", "bare.git")
	r, err := Survey(dir, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Git != GitDir || r.GitDir != filepath.Join(dir, ".git") || r.CommonDir != r.GitDir || r.Objects[0] != filepath.Join(dir, ".git", "objects") {
		t.Errorf("record = %+v", r)
	}
	if got := r.Remotes["origin"]; !slices.Equal(got, []string{"https://git.example.com/a.git", "ssh://git@git.example.com/a.git"}) {
		t.Errorf("remotes = %v", r.Remotes)
	}
	if !slices.Equal(r.Nested, []string{"bare.git", "vendor/lib/.git"}) {
		t.Errorf("nested = %v", r.Nested)
	}
	// Not a repository; copy mode does not look below the top.
	if r, err := Survey(t.TempDir(), false, nil); err != nil || r.Git != GitNone {
		t.Errorf("no repository: %+v, %v", r, err)
	}
}

func TestSurveyWorktreeAndAlternates(t *testing.T) {
	main := repo(t)
	wt := filepath.Join(t.TempDir(), "wt")
	git(t, main, "worktree", "add", "-q", wt, "-b", "wt")
	r, err := Survey(wt, true, []string{main})
	if err != nil {
		t.Fatal(err)
	}
	if r.Git != GitFile || r.GitDir != filepath.Join(main, ".git", "worktrees", "wt") || r.CommonDir != filepath.Join(main, ".git") {
		t.Errorf("worktree record = %+v", r)
	}
	if len(r.Remotes["origin"]) != 2 {
		t.Errorf("a worktree's remotes come from its main repository's config: %v", r.Remotes)
	}
	// A clone borrowing objects: both object folders are read.
	borrower := filepath.Join(t.TempDir(), "b")
	git(t, main, "clone", "-q", "--shared", main, borrower)
	r, err = Survey(borrower, false, []string{main})
	if err != nil || len(r.Objects) != 2 || r.Objects[1] != filepath.Join(main, ".git", "objects") {
		t.Errorf("alternates: %+v, %v", r, err)
	}
}

// A worktree's main repository, which the person's config names, is
// recorded as the folder found there at the first start: renamed and
// replaced by another repository (or a link to one) afterwards, by a
// bottle whose workspace holds it, nothing more is read from it, and its
// object folders are not taken from there.
func TestSurveyRecordsTheRepositoriesItLeadsTo(t *testing.T) {
	main := repo(t)
	wt := filepath.Join(t.TempDir(), "wt")
	git(t, main, "worktree", "add", "-q", wt, "-b", "wt")
	r, err := Survey(wt, true, []string{main})
	if err != nil {
		t.Fatal(err)
	}
	if e := r.RootsSeen[main]; e.Type != "dir" || e.Ino == 0 {
		t.Fatalf("the main repository is not recorded: %+v", r.RootsSeen)
	}
	objects := filepath.Join(main, ".git", "objects")
	if _, err := r.ReadGitFile(filepath.Join(main, ".git", "HEAD")); err != nil {
		t.Fatalf("the recorded repository: %v", err)
	}
	other := repo(t)
	for _, swap := range []func() error{
		func() error { return os.Rename(other, main) },
		func() error { return os.Symlink(other, main) },
	} {
		os.Rename(main, main+".was")
		if err := swap(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadGitFile(filepath.Join(main, ".git", "HEAD")); !errors.Is(err, beneath.ErrMoved) {
			t.Errorf("a file of the main repository, another folder at its path: %v, want it refused as moved", err)
		}
		if d, rel, ok := r.At(objects); !ok {
			t.Errorf("%s is in no root", objects)
		} else if f, err := d.OpenPath(rel); !errors.Is(err, beneath.ErrMoved) {
			f.Close()
			t.Errorf("the object folder, another folder at the main repository's path: %v, want it refused as moved", err)
		}
		if fi, err := os.Lstat(main); err == nil && fi.IsDir() {
			os.Rename(main, other)
		} else {
			os.Remove(main)
		}
		os.Rename(main+".was", main)
	}
}

func TestSurveyRefusesWhatBindCannotProtect(t *testing.T) {
	dir := t.TempDir()
	real := repo(t)
	os.Symlink(filepath.Join(real, ".git"), filepath.Join(dir, ".git"))
	if _, err := Survey(dir, true, nil); err == nil || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), `"copy"`) {
		t.Errorf("a linked .git in bind mode: %v", err)
	}
	if r, err := Survey(dir, false, nil); err != nil || r.Git != GitNone || r.LeftOut == "" {
		t.Errorf("a linked .git in copy mode is left out: %+v, %v", r, err)
	}
	nestedLink := repo(t)
	os.MkdirAll(filepath.Join(nestedLink, "sub"), 0o755)
	os.Symlink(filepath.Join(real, ".git"), filepath.Join(nestedLink, "sub", ".git"))
	if _, err := Survey(nestedLink, true, nil); err == nil || !strings.Contains(err.Error(), "sub/.git") {
		t.Errorf("a linked nested .git in bind mode: %v", err)
	}
	many := t.TempDir()
	for i := 0; i <= MaxNested; i++ {
		os.MkdirAll(filepath.Join(many, "d"+strings.Repeat("x", i), ".git"), 0o755)
	}
	if _, err := Survey(many, true, nil); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("too many nested repositories: %v", err)
	}
}

func TestSeedGitDirWorksWithoutTheHostsConfig(t *testing.T) {
	dir := repo(t)
	// What the host's own config has that runs programs stays out.
	git(t, dir, "config", "core.fsmonitor", "/bin/false")
	git(t, dir, "config", "core.hooksPath", "/tmp")
	git(t, dir, "config", "alias.st", "!echo hi")
	git(t, dir, "config", "branch.main.remote", "origin")
	r, err := Survey(dir, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	agentDir := filepath.Join(t.TempDir(), "git")
	if err := SeedGitDir(r, beneath.At(filepath.Dir(agentDir)).MustJoin("git")); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(agentDir, "config"))
	for _, bad := range []string{"fsmonitor", "hooksPath", "alias"} {
		if strings.Contains(string(cfg), bad) {
			t.Errorf("the agent's config keeps %s:\n%s", bad, cfg)
		}
	}
	if !strings.Contains(string(cfg), "https://git.example.com/a.git") || !strings.Contains(string(cfg), `[branch "main"]`) {
		t.Errorf("the agent's config lost the remotes or branches:\n%s", cfg)
	}
	agentGit := func(args ...string) string {
		return git(t, dir, append([]string{"--git-dir", agentDir, "--work-tree", dir}, args...)...)
	}
	if got := agentGit("log", "--format=%s"); got != "first" {
		t.Errorf("agent's log = %q", got)
	}
	os.WriteFile(filepath.Join(dir, "f"), []byte("two\n"), 0o644)
	if got := agentGit("status", "--short"); got != "M f" {
		t.Errorf("agent's status = %q", got)
	}
	agentGit("commit", "-qam", "agent")
	if host := git(t, dir, "log", "--format=%s"); host != "first" {
		t.Errorf("the agent's commit reached the host's history: %q", host)
	}
	if objs, _ := filepath.Glob(filepath.Join(agentDir, "objects", "??")); len(objs) == 0 {
		t.Error("the agent's new objects are not in its own folder")
	}
}

func TestQuarantineMovesOnlyWhatIsNew(t *testing.T) {
	dir := repo(t)
	os.MkdirAll(filepath.Join(dir, "vendor", "lib", ".git"), 0o755)
	r, err := Survey(dir, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The agent's: a nested repository, a .git file and link, a bare shape.
	os.MkdirAll(filepath.Join(dir, "a", "b", ".git"), 0o755)
	os.MkdirAll(filepath.Join(dir, "vendor", "lib", "inner"), 0o755)
	os.WriteFile(filepath.Join(dir, "vendor", "lib", "inner", ".git"), []byte("gitdir: /x\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "c"), 0o755)
	os.Symlink("/elsewhere", filepath.Join(dir, "c", ".git"))
	for _, d := range []string{"objects", "refs"} {
		os.MkdirAll(filepath.Join(dir, "shape", d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "shape", "HEAD"), []byte("ref: refs/heads/main\n"), 0o644)
	dst := beneath.At(t.TempDir()).MustJoin("quarantine")
	moved, _, err := Quarantine(r, dst)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, m := range moved {
		paths = append(paths, m.Path)
		if _, err := os.Lstat(filepath.Join(dir, m.Path)); err == nil {
			t.Errorf("%s is still in the workspace", m.Path)
		}
		if _, err := os.Lstat(m.To); err != nil {
			t.Errorf("%s did not arrive at %s", m.Path, m.To)
		}
	}
	want := []string{"a/b/.git", "c/.git", "shape", "vendor/lib/inner/.git"}
	if !slices.Equal(paths, want) {
		t.Errorf("moved %v, want %v", paths, want)
	}
	for _, keep := range []string{".git", "vendor/lib/.git"} {
		if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
			t.Errorf("%s, there at first start, was moved", keep)
		}
	}
	// No repository at first start: a .git the agent made at the top goes too.
	bare := t.TempDir()
	r, _ = Survey(bare, true, nil)
	os.MkdirAll(filepath.Join(bare, ".git"), 0o755)
	if moved, _, err := Quarantine(r, beneath.At(t.TempDir()).MustJoin("q")); err != nil || len(moved) != 1 || moved[0].Path != ".git" {
		t.Errorf("top .git: %v, %v", moved, err)
	}
}

// TestQuarantineCatchesASwappedNestedRepository: the agent cannot rename
// a mount point, but it can rename its parent folder (the mount goes with
// it) and write its own .git where the recorded one was. The quarantine
// compares what stands at each recorded path with what the first start
// saw, and moves what changed (and the original, now at a new path).
func TestQuarantineCatchesASwappedNestedRepository(t *testing.T) {
	dir := repo(t)
	lib := filepath.Join(dir, "vendor", "lib")
	os.MkdirAll(lib, 0o755)
	git(t, lib, "init", "-q")
	r, err := Survey(dir, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seen["vendor/lib/.git"].Type != "dir" || r.Seen[".git"].Ino == 0 {
		t.Fatalf("the first start's entries were not recorded: %+v", r.Seen)
	}
	if c, err := r.Check(); err != nil || len(c) != 0 {
		t.Fatalf("nothing changed, yet: %v %v", c, err)
	}
	// The agent's swap: the recorded folder moves away, a look-alike takes its place.
	os.Rename(lib, filepath.Join(dir, "vendor", "lib-old"))
	os.MkdirAll(filepath.Join(lib, "evil"), 0o755)
	os.WriteFile(filepath.Join(lib, ".git"), []byte("gitdir: evil\n"), 0o644)
	os.WriteFile(filepath.Join(lib, "evil", "HEAD"), []byte("ref: refs/heads/main\n"), 0o644)
	os.WriteFile(filepath.Join(lib, "evil", "commondir"), []byte(".\n"), 0o644)
	os.WriteFile(filepath.Join(lib, "evil", "config"), []byte("[core]\n\tfsmonitor = touch /tmp/pwned\n"), 0o644)
	changed, err := r.Check()
	if err != nil || len(changed) != 1 || changed[0].Path != "vendor/lib/.git" || changed[0].Now.Type != "file" {
		t.Fatalf("check: %v %v", changed, err)
	}
	moved, changed, err := Quarantine(r, beneath.At(t.TempDir()).MustJoin("q"))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, m := range moved {
		paths = append(paths, m.Path)
	}
	slices.Sort(paths)
	if want := []string{"vendor/lib-old/.git", "vendor/lib/.git", "vendor/lib/evil"}; !slices.Equal(paths, want) || len(changed) != 1 {
		t.Errorf("moved %v (changed %v), want %v", paths, changed, want)
	}
	if _, err := os.Lstat(filepath.Join(lib, ".git")); err == nil {
		t.Error("the agent's .git is still where the person's git reads it")
	}
}

func TestCheckSeesALinkOnTheWay(t *testing.T) {
	dir := repo(t)
	os.MkdirAll(filepath.Join(dir, "vendor", "lib", ".git"), 0o755)
	r, err := Survey(dir, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "vendor", "lib"))
	os.Symlink("/", filepath.Join(dir, "vendor", "lib"))
	changed, err := r.Check()
	if err != nil || len(changed) != 1 || !changed[0].Through || !strings.Contains(changed[0].String(), "symbolic link") {
		t.Errorf("a link on the way: %v %v", changed, err)
	}
	// The link itself is content, not git metadata: the quarantine leaves
	// it, and never walks through it.
	if moved, _, err := Quarantine(r, beneath.At(t.TempDir()).MustJoin("q")); err != nil || len(moved) != 0 {
		t.Errorf("quarantine through a link: %v %v", moved, err)
	}
	// The same path replaced by a link to /.
	os.Remove(filepath.Join(dir, "vendor", "lib"))
	os.MkdirAll(filepath.Join(dir, "vendor", "lib"), 0o755)
	os.Symlink("/", filepath.Join(dir, "vendor", "lib", ".git"))
	moved, changed, err := Quarantine(r, beneath.At(t.TempDir()).MustJoin("q"))
	if err != nil || len(moved) != 1 || len(changed) != 1 || changed[0].Now.Type != "link" {
		t.Errorf("a link at the recorded path: moved %v, changed %v, %v", moved, changed, err)
	}
}

func TestGitShapedFolders(t *testing.T) {
	dir := repo(t)
	for _, shape := range [][]string{{"HEAD", "commondir"}, {"HEAD", "gitdir"}} {
		p := filepath.Join(dir, "shape-"+shape[1])
		os.MkdirAll(p, 0o755)
		for _, f := range shape {
			os.WriteFile(filepath.Join(p, f), []byte("x\n"), 0o644)
		}
	}
	os.MkdirAll(filepath.Join(dir, "not", "HEAD"), 0o755) // HEAD alone is no git folder
	r, err := Survey(dir, true, nil)
	if err != nil || !slices.Equal(r.Nested, []string{"shape-commondir", "shape-gitdir"}) {
		t.Errorf("nested = %v, %v", r.Nested, err)
	}
}

// TestARepositoryNamesOnlyItself: a project received as a folder whose
// git metadata leads to another of the person's repositories is refused in
// bind mode and left out in copy mode; a repository the person's config
// names may be led to.
func TestARepositoryNamesOnlyItself(t *testing.T) {
	other := repo(t)
	otherGit := filepath.Join(other, ".git")
	cases := map[string]func(dir string){
		"a .git file naming another repository": func(dir string) {
			os.WriteFile(filepath.Join(dir, ".git"), []byte("gitdir: "+otherGit+"\n"), 0o644)
		},
		"a commondir leading out": func(dir string) {
			g := filepath.Join(dir, ".git")
			os.MkdirAll(filepath.Join(g, "objects"), 0o755)
			os.WriteFile(filepath.Join(g, "HEAD"), []byte("ref: refs/heads/main\n"), 0o644)
			os.WriteFile(filepath.Join(g, "commondir"), []byte(otherGit+"\n"), 0o644)
		},
		"alternates leading out": func(dir string) {
			g := filepath.Join(dir, ".git")
			os.MkdirAll(filepath.Join(g, "objects", "info"), 0o755)
			os.WriteFile(filepath.Join(g, "HEAD"), []byte("ref: refs/heads/main\n"), 0o644)
			os.WriteFile(filepath.Join(g, "objects", "info", "alternates"), []byte(filepath.Join(otherGit, "objects")+"\n"), 0o644)
		},
	}
	for name, make := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			make(dir)
			var out *LeadsOutError
			if _, err := Survey(dir, true, nil); !errors.As(err, &out) || !strings.Contains(err.Error(), other) {
				t.Errorf("bind: %v", err)
			}
			r, err := Survey(dir, false, nil)
			if err != nil || r.Git != GitNone || !strings.Contains(r.LeftOut, other) || len(r.Objects) != 0 || r.Remotes != nil {
				t.Errorf("copy: %+v %v", r, err)
			}
			if r, err := Survey(dir, true, []string{other}); err != nil || r.Git == GitNone {
				t.Errorf("named in the person's config: %+v %v", r, err)
			}
		})
	}
}

func TestQuarantineKeepsEarlierSessionsApart(t *testing.T) {
	dir := repo(t)
	r, _ := Survey(dir, true, nil)
	q := beneath.At(t.TempDir()).MustJoin("q")
	for i := range 2 {
		os.MkdirAll(filepath.Join(dir, "a", ".git"), 0o755)
		moved, _, err := Quarantine(r, q)
		if err != nil || len(moved) != 1 {
			t.Fatalf("session %d: %v %v", i, moved, err)
		}
	}
	if _, err := os.Stat(filepath.Join(q.Path(), "a", ".git.quarantined.1")); err != nil {
		t.Errorf("the second session's .git was not kept beside the first: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "a", ".git")); err == nil {
		t.Error("the second session's .git stayed in the workspace")
	}
}
