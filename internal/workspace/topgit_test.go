package workspace

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// TestQuarantineTakesTheWorkspaceItselfAsAGitFolder (attack, issue 19, second round):
// a bind workspace that was no repository at the first start (a folder of
// notes, a subfolder of a repository) is the agent's to fill. It writes
// HEAD, objects/, refs/ and a config into the workspace's top: git, run by
// the person in that folder, finds no .git and takes the folder itself for
// a (bare) git folder, whose config (core.worktree makes it one with a
// work tree) names core.fsmonitor, which git status runs. The quarantine
// walks everything below the top but never looks at the top itself.
func TestQuarantineTakesTheWorkspaceItselfAsAGitFolder(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed: the attack is on the person's git")
	}
	for _, inRepo := range []bool{false, true} {
		name := "a folder of notes"
		if inRepo {
			name = "a subfolder of the person's repository"
		}
		t.Run(name, func(t *testing.T) { workspaceItselfAsAGitFolder(t, inRepo) })
	}
}

func workspaceItselfAsAGitFolder(t *testing.T, inRepo bool) {
	dir := t.TempDir()
	if inRepo {
		git(t, dir, "init", "-q")
		dir = filepath.Join(dir, "docs")
		os.MkdirAll(dir, 0o755)
	}
	os.WriteFile(filepath.Join(dir, "notes.md"), []byte("mine\n"), 0o644)
	r, err := Survey(dir, true, nil)
	if err != nil || r.Git != GitNone {
		t.Fatalf("survey: %+v, %v", r, err)
	}
	// The session: the agent writes into the workspace's top.
	marker := filepath.Join(t.TempDir(), "pwned")
	for _, d := range []string{"objects", "refs"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "HEAD"), []byte("ref: refs/heads/main\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "config"), []byte("[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = .\n\tfsmonitor = \"touch "+marker+"; false\"\n"), 0o644)

	// The session's end.
	if _, _, err := Quarantine(r, beneath.At(t.TempDir()).MustJoin("quarantine")); err != nil {
		t.Fatal(err)
	}

	// Later, the person runs git in their folder.
	cmd := exec.Command("git", "status")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CEILING_DIRECTORIES="+filepath.Dir(filepath.Dir(dir)))
	out, _ := cmd.CombinedOutput()
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the person's git status in the workspace ran the agent's core.fsmonitor (git said: %s)", out)
	}
	if gitShapedTop(dir) {
		t.Errorf("the workspace's top is still shaped like a git folder after the quarantine")
	}
}

func gitShapedTop(dir string) bool {
	for _, n := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}
