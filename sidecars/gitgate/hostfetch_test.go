package gitgate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// The gate's folder is hostile ground (the git gate container writes it):
// bottle git fetch takes from its audit only names git would take for a
// branch. Found by an attack on issue 19's change: refs/heads/../../MERGE_HEAD
// (IsBranch alone) read the mirror's MERGE_HEAD and wrote the person's
// .git/MERGE_HEAD, so their next commit merged the gate's held work.
func TestFetchPushedTakesOnlyBranchNames(t *testing.T) {
	ws, url, dir := gateFor(t, config.GitRemote{})
	clone := filepath.Join(t.TempDir(), "clone")
	gitRun(t, ws, "clone", "-q", url, clone)
	gitRun(t, clone, "checkout", "-q", "-b", "feature")
	commit(t, clone, "agent.txt", "held work the person never merged\n")
	gitRun(t, clone, "push", "-q", "origin", "feature") // held: the gate has it, upstream does not
	held := strings.TrimSpace(gitRun(t, clone, "rev-parse", "HEAD"))

	// What a gate that misbehaves leaves in its own folder.
	mirror := filepath.Join(dir, mirrorRel("origin"))
	for _, f := range []string{"MERGE_HEAD", "shallow"} {
		os.WriteFile(filepath.Join(mirror, f), []byte(held+"\n"), 0o644)
	}
	audit, err := os.OpenFile(filepath.Join(dir, AuditFile), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	audit.WriteString(`{"remote":"origin","mode":"hold","refs":[{"ref":"refs/heads/../../MERGE_HEAD","new":"` + held + `","decision":"accepted"},{"ref":"refs/heads/../../shallow","new":"` + held + `","decision":"accepted"}]}` + "\n")
	audit.Close()

	lines, err := FetchPushed(beneath.At(dir), survey(t, ws), "")
	t.Logf("bottle git fetch: %q %v", lines, err)
	for _, f := range []string{"MERGE_HEAD", "shallow"} {
		if data, err := os.ReadFile(filepath.Join(ws, ".git", f)); err == nil {
			t.Errorf("bottle git fetch wrote the person's .git/%s (%s)", f, strings.TrimSpace(string(data)))
		}
	}
	// The person's next commit is a merge of the held work.
	out, _ := gitTry(ws, "status")
	t.Logf("git status:\n%s", out)
	gitTry(ws, "commit", "-qm", "my own change", "--allow-empty")
	if parents, _ := gitTry(ws, "log", "-1", "--format=%P"); strings.Contains(parents, held) {
		t.Errorf("the person's next commit took the gate's held commit %s as a parent: %s", held[:12], strings.TrimSpace(parents))
	}
	if n, _ := gitTry(ws, "rev-list", "--count", "HEAD"); strings.TrimSpace(n) != "" {
		t.Logf("commits the person's git sees on HEAD now: %s", strings.TrimSpace(n))
	}
}
