//go:build e2e

package main

import (
	"strings"
	"testing"
)

// TestBindNoRepositoryTopMadeAGitFolderIsQuarantined (attack, issue 19, second round):
// a bind workspace that was no repository at the first start; the agent
// makes its top itself shaped like a git folder (HEAD, objects, refs and a
// config with core.worktree and core.fsmonitor), with no .git anywhere.
// The quarantine never looks at the top itself: the person's git status
// in their folder takes it for a repository and runs the agent's command.
func TestBindNoRepositoryTopMadeAGitFolderIsQuarantined(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, e.dir+"/gitimg")
	marks := e.markDir()
	out, errs, code := e.run("start", "--yes", "git", "--", strings.Join([]string{
		"cd /workspace",
		"mkdir -p objects refs && printf 'ref: refs/heads/main\\n' > HEAD",
		plantBareFSMonitor(".", marks, "top"),
		"echo planted",
	}, "; "))
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try:\n%s", out)
	}
	hostGitRunsNothing(t, e, e.workdir)
}
