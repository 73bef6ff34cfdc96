package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/pod"
)

func TestGitGuard(t *testing.T) {
	repo, state := t.TempDir(), t.TempDir()
	if m, _ := GitGuard(repo, state); len(m) != 0 {
		t.Errorf("no repository: %v", m)
	}
	os.MkdirAll(filepath.Join(repo, ".git", "hooks"), 0o755)
	os.WriteFile(filepath.Join(repo, ".git", "config"), []byte("[core]\n"), 0o644)
	m, err := GitGuard(repo, state)
	if err != nil || len(m) != 2 {
		t.Fatalf("GitGuard = %v, %v", m, err)
	}
	for _, mt := range m {
		if !mt.ReadOnly {
			t.Errorf("%s is writable", mt.Target)
		}
	}
	if m[0].Target != "/workspace/.git/hooks" || m[1].Target != "/workspace/.git/config" {
		t.Errorf("targets: %v", m)
	}
	// No hooks folder: an empty one from state, so the agent cannot make one.
	os.RemoveAll(filepath.Join(repo, ".git", "hooks"))
	m, _ = GitGuard(repo, state)
	if len(m) != 2 || m[0].Source != filepath.Join(state, "no-hooks") {
		t.Errorf("without hooks: %v", m)
	}
	// A worktree's .git is a file: nothing to guard here.
	wt := t.TempDir()
	os.WriteFile(filepath.Join(wt, ".git"), []byte("gitdir: /elsewhere\n"), 0o644)
	if m, _ := GitGuard(wt, state); len(m) != 0 {
		t.Errorf("worktree: %v", m)
	}
}

func TestGuardOnlyInBindMode(t *testing.T) {
	guard := []pod.Mount{{Source: "/r/.git/config", Target: "/workspace/.git/config", ReadOnly: true}}
	for _, mode := range []string{config.WorkspaceBind, config.WorkspaceCopy} {
		a := &config.Agent{Name: "x", Image: "i", Command: []string{"sh"}, Workspace: mode, Runtime: config.RuntimeRunc}
		c, err := Container("c", Input{Agent: a, ImageRef: "i", Workdir: "/r", StateDir: "/s", Host: Host{Rootless: true, UID: 1, GID: 1}, GitGuard: guard})
		if err != nil {
			t.Fatal(err)
		}
		has := false
		for _, m := range c.Mounts {
			has = has || m.Target == "/workspace/.git/config"
		}
		if has != (mode == config.WorkspaceBind) {
			t.Errorf("%s mode: guard mounted = %v", mode, has)
		}
	}
}
