package workspace

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// The quarantine is where the person is told to look ("what the agent made
// was moved to ...: look at it"), and a shell prompt runs git status in
// whatever folder the person enters. What it holds must be no repository
// any git finds: on main, the agent's .git folder, a .git file leading to a
// git folder of its own (its git folder in the bottle's state) and a folder
// shaped like a bare repository with a worktree each ran the agent's
// core.fsmonitor on the host at the first git status there.
func TestQuarantineHoldsNoRepositoryGitFinds(t *testing.T) {
	dir := repo(t)
	r, err := Survey(dir, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	marks := t.TempDir()
	hook := func(name string) string { return "touch " + filepath.Join(marks, name) + "; false" }
	// A repository of the agent's, nested.
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	git(t, filepath.Join(dir, "sub"), "init", "-q")
	git(t, filepath.Join(dir, "sub"), "config", "core.fsmonitor", hook("nested"))
	// A .git file leading out of the workspace, to a git folder the agent
	// writes (its own, in the bottle's state, outlives the session).
	elsewhere := filepath.Join(t.TempDir(), "agent-git")
	git(t, t.TempDir(), "init", "-q", "--bare", elsewhere)
	git(t, elsewhere, "config", "core.fsmonitor", hook("led"))
	git(t, elsewhere, "config", "core.bare", "false")
	os.MkdirAll(filepath.Join(dir, "led"), 0o755)
	os.WriteFile(filepath.Join(dir, "led", ".git"), []byte("gitdir: "+elsewhere+"\n"), 0o644)
	// A bare shape with a worktree elsewhere.
	shape := filepath.Join(dir, "shape")
	git(t, dir, "init", "-q", "--bare", shape)
	git(t, shape, "config", "core.bare", "false")
	git(t, shape, "config", "core.worktree", t.TempDir())
	git(t, shape, "config", "core.fsmonitor", hook("shape"))

	q := beneath.At(t.TempDir()).MustJoin("quarantine")
	moved, _, err := Quarantine(r, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(moved) != 3 {
		t.Fatalf("moved %+v", moved)
	}
	// The person looks: a prompt's git status in every folder of it.
	filepath.WalkDir(q.Path(), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		cmd := exec.Command("git", "status", "--porcelain")
		cmd.Dir = p
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+marks, "GIT_CEILING_DIRECTORIES="+filepath.Dir(q.Path()))
		cmd.Run()
		return nil
	})
	if ran, _ := os.ReadDir(marks); len(ran) > 0 {
		var names []string
		for _, e := range ran {
			names = append(names, e.Name())
		}
		t.Errorf("git status in the quarantine ran the agent's core.fsmonitor: %s", strings.Join(names, ", "))
	}
	// What was moved is all there to look at.
	for _, m := range moved {
		if _, err := os.Lstat(m.To); err != nil {
			t.Errorf("%s is not at %s: %v", m.Path, m.To, err)
		}
	}
}
