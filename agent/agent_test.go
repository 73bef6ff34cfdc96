package agent

import (
	"testing"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/workspace"
	"github.com/bottle-sandbox/bottle/spec"
)

func TestGitMountsOnlyInBindMode(t *testing.T) {
	rec := &workspace.Record{Dir: "/r", Git: workspace.GitDir, GitDir: "/r/.git", CommonDir: "/r/.git", Objects: []string{"/r/.git/objects"}}
	for _, mode := range []string{config.WorkspaceBind, config.WorkspaceCopy} {
		a := &config.Agent{Name: "x", Profile: config.Profile{Image: "i", Command: []string{"sh"}, Workspace: mode, Runtime: config.RuntimeRunc}}
		c, err := Container("c", Input{Agent: a, Image: spec.Image{Ref: "i"}, Workdir: "/r", StateDir: "/s", Host: Host{Rootless: true, UID: 1, GID: 1}, Workspace: rec})
		if err != nil {
			t.Fatal(err)
		}
		has := false
		for _, m := range c.Mounts {
			has = has || m.Target == "/workspace/.git"
		}
		if has != (mode == config.WorkspaceBind) {
			t.Errorf("%s mode: guard mounted = %v", mode, has)
		}
	}
}
