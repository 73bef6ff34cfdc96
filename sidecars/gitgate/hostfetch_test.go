package gitgate

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// A line of the gate's audit longer than its readers took (16 MiB: a push
// of many refs with long names made one) stopped them there: bottle git
// fetch failed for good, and the dashboard showed no push after it. Both
// read past it now.
func TestGateAuditReadPastALongLine(t *testing.T) {
	ws, url, dir := gateFor(t, config.GitRemote{})
	long := `{"remote":"origin","mode":"hold","refs":[{"ref":"refs/heads/` + strings.Repeat("x", 17<<20) + `","decision":"refused"}]}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, AuditFile), []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	gitRun(t, ws, "clone", "-q", url, clone)
	gitRun(t, clone, "checkout", "-q", "-b", "feature")
	commit(t, clone, "agent.txt", "the agent's work\n")
	gitRun(t, clone, "push", "-q", "origin", "feature")

	lines, err := FetchPushed(beneath.At(dir), survey(t, ws), "")
	if err != nil || len(lines) != 1 || !strings.Contains(lines[0], "feature: new branch") {
		t.Errorf("bottle git fetch: %q, %v", lines, err)
	}
	tail := AuditTail(beneath.At(dir), 3)
	if len(tail) == 0 || !strings.Contains(tail[len(tail)-1], "held") || !strings.Contains(tail[len(tail)-1], "feature") {
		t.Errorf("the dashboard's pushes: %q", tail)
	}
}

// The gate writes no line that long: each text is cut, and a push of many
// refs takes several lines, which read back as the push's refs in order.
func TestGateAuditLinesStayShort(t *testing.T) {
	dir := t.TempDir()
	a := &audit{path: filepath.Join(dir, AuditFile)}
	e := auditEntry{Remote: "origin", Mode: "hold"}
	for i := range 1000 {
		e.Refs = append(e.Refs, auditRef{Ref: fmt.Sprintf("refs/heads/%04d-%s", i, strings.Repeat("<", 5000)), Decision: "refused", Reason: strings.Repeat("<", 5000)})
	}
	if err := a.write(e); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(a.path)
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if len(l) > 4<<20 {
			t.Errorf("an audit line of %d bytes", len(l))
		}
	}
	var got []string
	if err := readAudit(beneath.At(dir), func(_ auditEntry, r auditRef) { got = append(got, r.Ref[:15]) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1000 || got[0] != "refs/heads/0000" || got[999] != "refs/heads/0999" {
		t.Errorf("%d refs read back: %q ... ", len(got), got[:min(len(got), 3)])
	}
}

// The dashboard reads the gate's audit tail with every refresh: only its
// end is read (bytes read, the process's rchar, not time), however long
// the agent's pushes made it; on main every refresh read all of it.
func TestGateAuditTailReadsOnlyTheEnd(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(256 << 20) // a long audit, without the disk for it
	f.Seek(0, io.SeekEnd)
	f.WriteString("\n" + `{"remote":"origin","mode":"hold","refs":[{"ref":"refs/heads/late","new":"0123456789abcdef","decision":"held"}]}` + "\n")
	f.Close()
	before := readBytes(t)
	tail := AuditTail(beneath.At(dir), 3)
	if read := readBytes(t) - before; read > 64<<20 {
		t.Errorf("the tail read %d MiB of the audit", read>>20)
	}
	if len(tail) != 1 || !strings.Contains(tail[0], "late") {
		t.Errorf("the tail: %q", tail)
	}
}

// readBytes is what this process has read so far (rchar: every read call).
func readBytes(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatalf("read /proc/self/io: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("no rchar in /proc/self/io")
	return 0
}

// One branch of the agent's that cannot be brought (its tip names an
// object its git folder does not hold) stopped the fetch-back there: the
// branches after it stayed behind, and (rootful) what was written for the
// branches before it stayed root's in the person's repository, whose own
// git then could not write there. Every other branch comes back now, the
// error names the one that did not, and what was written is the owner's.
func TestFetchBranchesGoesOnPastABadBranch(t *testing.T) {
	tmp := t.TempDir()
	ws := filepath.Join(tmp, "ws")
	gitRun(t, tmp, "init", "-q", "-b", "main", ws)
	commit(t, ws, "f.txt", "one\n")
	agentWs := filepath.Join(tmp, "agent")
	gitRun(t, tmp, "clone", "-q", ws, agentWs)
	for _, b := range []string{"a-good", "c-good"} {
		gitRun(t, agentWs, "checkout", "-q", "-b", b, "main")
		commit(t, agentWs, b+".txt", "the agent's work on "+b+"\n")
	}
	if err := os.WriteFile(filepath.Join(agentWs, ".git", "refs", "heads", "b-bad"), []byte(strings.Repeat("ab", 20)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "-R", "1000:1000", ws).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	lines, err := FetchBranches(beneath.At(filepath.Join(agentWs, ".git")), survey(t, ws), "bottle/x/", false)
	t.Logf("fetched: %q, %v", lines, err)
	if err == nil || !strings.Contains(err.Error(), "b-bad") {
		t.Errorf("the error does not name the branch that did not come back: %v", err)
	}
	for _, b := range []string{"a-good", "c-good"} {
		if _, err := gitTry(ws, "-c", "safe.directory=*", "rev-parse", "--verify", "-q", "refs/heads/bottle/x/"+b); err != nil {
			t.Errorf("the agent's branch %s did not come back", b)
		}
	}
	if os.Geteuid() == 0 {
		filepath.WalkDir(filepath.Join(ws, ".git"), func(p string, d fs.DirEntry, err error) error {
			if fi, err := os.Lstat(p); err == nil && fi.Sys().(*syscall.Stat_t).Uid == 0 {
				t.Errorf("%s is root's in the person's repository", p)
			}
			return nil
		})
	}
}

// The hint a diverged branch gets names the agent's commit so that no
// branch can stand for it: the agent pushed a second branch named as the
// first's short hash, and git takes a branch's name before a short hash,
// so `git merge SHORT` merged the other branch's commit.
func TestFetchPushedHintNamesTheCommitItSays(t *testing.T) {
	ws, url, dir := gateFor(t, config.GitRemote{})
	gitRun(t, ws, "checkout", "-q", "-b", "feature")
	commit(t, ws, "mine.txt", "the person's own work\n")
	gitRun(t, ws, "checkout", "-q", "-")
	clone := filepath.Join(t.TempDir(), "clone")
	gitRun(t, ws, "clone", "-q", url, clone)
	gitRun(t, clone, "checkout", "-q", "-b", "other")
	commit(t, clone, "other.txt", "what the hint must not lead to\n")
	other := strings.TrimSpace(gitRun(t, clone, "rev-parse", "HEAD"))
	gitRun(t, clone, "checkout", "-q", "-b", "feature", "HEAD~1")
	commit(t, clone, "agent.txt", "the agent's work\n")
	pushed := strings.TrimSpace(gitRun(t, clone, "rev-parse", "HEAD"))
	gitRun(t, clone, "push", "-q", "origin", "feature", "other:refs/heads/"+pushed[:12])

	lines, err := FetchPushed(beneath.At(dir), survey(t, ws), "")
	t.Logf("bottle git fetch: %q %v", lines, err)
	var hint string
	for _, l := range lines {
		if _, after, ok := strings.Cut(l, "(git merge "); ok && strings.Contains(l, "feature") {
			hint = strings.TrimSuffix(after, ")")
		}
	}
	if hint == "" {
		t.Fatalf("no hint for the diverged feature: %q, %v", lines, err)
	}
	out := strings.Fields(gitRun(t, ws, "rev-parse", hint+"^{commit}")) // git's warning first, if any
	if got := out[len(out)-1]; got != pushed {
		t.Errorf("git merge %s merges %s (the agent's other branch is %s), not the pushed feature %s", hint, got[:12], other[:12], pushed[:12])
	}
}
