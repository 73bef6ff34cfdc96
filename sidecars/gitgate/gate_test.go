package gitgate

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/workspace"
)

// git runs the host's git in dir, failing the test on error.
func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitTry(dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func gitTry(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// survey records a workspace as a bottle's first start does.
func survey(t *testing.T, ws string) *workspace.Record {
	t.Helper()
	r, err := workspace.Survey(ws, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func commit(t *testing.T, dir, file, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	gitRun(t, dir, "add", file)
	gitRun(t, dir, "commit", "-qm", "add "+file)
}

// gateFor prepares a gate for a workspace whose origin is a local bare
// repository (so the gate holds pushes), and serves it on loopback.
func gateFor(t *testing.T, rc config.GitRemote) (ws, url, dir string) {
	t.Helper()
	tmp := t.TempDir()
	up := filepath.Join(tmp, "upstream.git")
	ws = filepath.Join(tmp, "ws")
	gitRun(t, tmp, "init", "-q", "--bare", "-b", "main", up)
	gitRun(t, tmp, "init", "-q", "-b", "main", ws)
	for i := 0; i < 40; i++ { // enough history for more than one negotiation round
		commit(t, ws, "f.txt", strings.Repeat("x", i))
	}
	gitRun(t, ws, "remote", "add", "origin", up)
	gitRun(t, ws, "push", "-q", "origin", "main")
	gitRun(t, ws, "fetch", "-q", "origin")
	gitRun(t, ws, "remote", "set-head", "origin", "main")
	dir = filepath.Join(tmp, "gate")
	g := &config.Git{Remotes: map[string]config.GitRemote{"origin": rc}}
	rec := survey(t, ws)
	p, err := NewPlan(context.Background(), "abc123", rec, g)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(beneath.At(tmp).MustJoin("gate"), rec, []string{injectedSecret}); err != nil {
		t.Fatal(err)
	}
	if r := p.Config.Remotes[0]; r.Mode != config.GitHold || r.AgentURLs[0] != up {
		t.Fatalf("remote = %+v, want held, for %s", r, up)
	}
	s, err := NewServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return ws, srv.URL + "/origin.git", dir
}

// injectedSecret stands for a credential the egress proxy injects.
const injectedSecret = "sk-bottle-injected-0123456789abcdef"

func TestGateFetchPushAndRules(t *testing.T) {
	ws, url, dir := gateFor(t, config.GitRemote{})
	clone := filepath.Join(t.TempDir(), "clone")
	gitRun(t, ws, "clone", "-q", url, clone)
	if got := gitRun(t, clone, "rev-list", "--count", "HEAD"); strings.TrimSpace(got) != "40" {
		t.Fatalf("clone has %s commits, want 40", got)
	}
	other := filepath.Join(t.TempDir(), "other")
	gitRun(t, ws, "clone", "-q", url, other)
	gitRun(t, clone, "checkout", "-q", "-b", "feature")
	commit(t, clone, "h.txt", "agent work")
	out := gitRun(t, clone, "push", "origin", "feature")
	if !strings.Contains(out, "[new branch]") {
		t.Fatalf("push feature: %s", out)
	}
	// An incremental fetch negotiates (its 40 commits in common) and gets the new one.
	out = gitRun(t, other, "fetch", "origin")
	if got := gitRun(t, other, "log", "-1", "--format=%s", "origin/feature"); strings.TrimSpace(got) != "add h.txt" {
		t.Fatalf("fetch after push: origin/feature is %q\n%s", got, out)
	}
	gitRun(t, other, "fsck", "--connectivity-only") // the pack left nothing out
	// Refused, each with its reason.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"push", "origin", "feature:main"}, "branch main is protected"},
		{[]string{"push", "origin", "--delete", "feature"}, "deleting branch feature is not allowed"},
		{[]string{"push", "origin", "--force", "HEAD~2:feature"}, "force-push to feature is not allowed"},
	} {
		out, err := gitTry(clone, c.args...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("git %s: err %v, want refusal %q:\n%s", strings.Join(c.args, " "), err, c.want, out)
		}
	}
	gitRun(t, clone, "tag", "v1")
	if out, err := gitTry(clone, "push", "origin", "v1"); err == nil || !strings.Contains(out, "tags are not allowed") {
		t.Errorf("push tag: %v\n%s", err, out)
	}
	// A known-format key in a new commit is refused, naming file and rule only.
	key := "AKIA" + "QYLPMN5HHHFPZAM2" // an AWS access key id of the documented shape
	commit(t, clone, "deploy.env", "AWS_ACCESS_KEY_ID="+key+"\n")
	out, err := gitTry(clone, "push", "origin", "feature")
	if err == nil || !strings.Contains(out, "secret found") || !strings.Contains(out, "deploy.env") {
		t.Fatalf("push with a key: %v\n%s", err, out)
	}
	if strings.Contains(out, key) {
		t.Errorf("the refusal shows the secret:\n%s", out)
	}
	// So is one of the bottle's own injected secrets, even encoded.
	gitRun(t, clone, "reset", "-q", "--hard", "HEAD~1")
	commit(t, clone, "notes.txt", "data "+base64.StdEncoding.EncodeToString([]byte(injectedSecret))+"\n")
	out, err = gitTry(clone, "push", "origin", "feature")
	if err == nil || !strings.Contains(out, "secret found: injected-secret in notes.txt") {
		t.Fatalf("push with an injected secret: %v\n%s", err, out)
	}
	// The held branch comes into the host repository as an ordinary branch.
	lines, err := FetchPushed(beneath.At(dir), survey(t, ws), "")
	if err != nil || len(lines) != 1 || !strings.HasPrefix(lines[0], "origin feature: new branch at ") {
		t.Fatalf("FetchPushed = %q, %v", lines, err)
	}
	if got := gitRun(t, ws, "log", "-1", "--format=%s", "feature"); strings.TrimSpace(got) != "add h.txt" {
		t.Errorf("host feature is %q", got)
	}
	gitRun(t, ws, "fsck", "--no-dangling")
	// The audit has one line per push, the held branch among them.
	f, err := os.Open(filepath.Join(dir, AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var held, refused int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e auditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		for _, r := range e.Refs {
			switch r.Decision {
			case "held":
				held++
			case "refused":
				refused++
			}
		}
	}
	if held != 1 || refused != 6 {
		t.Errorf("audit: %d held, %d refused; want 1 and 6", held, refused)
	}
	tailLines := AuditTail(beneath.At(dir), 2)
	if len(tailLines) != 2 || !strings.Contains(tailLines[1], " refused  origin feature ") || !strings.Contains(tailLines[1], "secret found: injected-secret") {
		t.Errorf("AuditTail = %q", tailLines)
	}
}

func TestGateRefusesAPushAboveMaxPush(t *testing.T) {
	ws, url, _ := gateFor(t, config.GitRemote{MaxPush: "16k"})
	clone := filepath.Join(t.TempDir(), "clone")
	gitRun(t, ws, "clone", "-q", url, clone)
	gitRun(t, clone, "checkout", "-q", "-b", "big")
	blob := make([]byte, 256<<10) // random: it does not compress
	rand.Read(blob)
	commit(t, clone, "big.bin", string(blob))
	out, err := gitTry(clone, "push", "origin", "big")
	if err == nil || !strings.Contains(out, "larger than max_push") {
		t.Fatalf("push of 256k with max_push 16k: %v\n%s", err, out)
	}
	commit(t, clone, "small.txt", "small")
	gitRun(t, clone, "checkout", "-q", "-b", "small", "origin/main")
	commit(t, clone, "small.txt", "small")
	if out, err := gitTry(clone, "push", "origin", "small"); err != nil {
		t.Fatalf("a small push after a refused big one: %v\n%s", err, out)
	}
}

func TestGateSaysWhenItCannotRefreshFromTheUpstream(t *testing.T) {
	tmp := t.TempDir()
	ws := filepath.Join(tmp, "ws")
	gitRun(t, tmp, "init", "-q", "-b", "main", ws)
	commit(t, ws, "f.txt", "one")
	// An upstream the gate cannot reach (no gateway here): it serves the
	// host's view of the remote and says so.
	up := "https://git.invalid/team/app.git"
	gitRun(t, ws, "remote", "add", "origin", up)
	gitRun(t, ws, "update-ref", "refs/remotes/origin/main", "HEAD")
	dir := filepath.Join(tmp, "gate")
	rec := survey(t, ws)
	p, err := NewPlan(context.Background(), "abc123", rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(beneath.At(tmp).MustJoin("gate"), rec, nil); err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	clone := filepath.Join(tmp, "clone")
	out := gitRun(t, tmp, "clone", srv.URL+"/origin.git", clone)
	if !strings.Contains(out, "remote: bottle git gate: could not refresh origin from "+up) {
		t.Errorf("clone did not say the gate could not refresh:\n%s", out)
	}
	if got := gitRun(t, clone, "log", "-1", "--format=%s"); strings.TrimSpace(got) != "add f.txt" {
		t.Errorf("clone has %q", got)
	}
}

func TestGateRefusesRefNamesGitWouldNot(t *testing.T) {
	_, url, dir := gateFor(t, config.GitRemote{})
	// What no git client sends, but a hostile one can: a ref name with a
	// terminal escape, for whoever reads the audit.
	evil := "refs/heads/a\x1b[2Jb"
	line := fmt.Sprintf("%s %s %s\x00report-status", strings.Repeat("1", 40), strings.Repeat("0", 40), evil)
	body := fmt.Sprintf("%04x%s0000", len(line)+4, line)
	resp, err := http.Post(url+"/git-receive-pack", "application/x-git-receive-pack-request", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(out), "not a valid ref name") {
		t.Errorf("answer: %q", out)
	}
	if _, err := os.Stat(filepath.Join(MirrorPath(dir, "origin"), "refs", "heads", "a\x1b[2Jb")); err == nil {
		t.Error("the ref was made")
	}
}

func TestGateIncrementalFetchSendsWhatTheClientLacks(t *testing.T) {
	ws, url, _ := gateFor(t, config.GitRemote{})
	clone := filepath.Join(t.TempDir(), "clone")
	gitRun(t, ws, "clone", "-q", url, clone)
	// Nested folders, a deep change, a moved file and an untouched subtree;
	// pushed through the gate, then fetched by a client that has the older
	// history plus a commit of its own the gate never saw.
	other := filepath.Join(t.TempDir(), "other")
	gitRun(t, ws, "clone", "-q", url, other)
	commit(t, other, "local.txt", "only here")
	for _, d := range []string{"a/b/c", "a/keep", "z"} {
		os.MkdirAll(filepath.Join(clone, d), 0o755)
	}
	gitRun(t, clone, "checkout", "-q", "-b", "deep")
	commit(t, clone, "a/b/c/deep.txt", "one")
	commit(t, clone, "a/keep/same.txt", "same")
	commit(t, clone, "a/b/c/deep.txt", "two")
	gitRun(t, clone, "mv", "a/b/c/deep.txt", "z/moved.txt")
	gitRun(t, clone, "commit", "-qm", "move")
	gitRun(t, clone, "push", "-q", "origin", "deep")
	gitRun(t, other, "fetch", "-q", "origin")
	gitRun(t, other, "fsck", "--connectivity-only")
	want := gitRun(t, clone, "rev-parse", "deep^{tree}")
	if got := gitRun(t, other, "rev-parse", "origin/deep^{tree}"); got != want {
		t.Errorf("fetched tree %s, want %s", got, want)
	}
	if got := gitRun(t, other, "show", "origin/deep:z/moved.txt"); got != "two" {
		t.Errorf("z/moved.txt = %q", got)
	}
}

func TestGateFetchNegotiatesOverSeveralRounds(t *testing.T) {
	ws, url, _ := gateFor(t, config.GitRemote{})
	clone := filepath.Join(t.TempDir(), "clone")
	gitRun(t, ws, "clone", "-q", url, clone)
	gitRun(t, clone, "checkout", "-q", "-b", "long")
	for i := range 100 { // more haves than one round carries
		commit(t, clone, fmt.Sprintf("f%d.txt", i%7), fmt.Sprint(i))
	}
	gitRun(t, clone, "push", "-q", "origin", "long")
	other := filepath.Join(t.TempDir(), "other")
	gitRun(t, ws, "clone", "-q", url, other)
	commit(t, clone, "last.txt", "x")
	gitRun(t, clone, "push", "-q", "origin", "long")
	out, err := gitTry(other, "fetch", "origin")
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, out)
	}
	gitRun(t, other, "fsck", "--connectivity-only")
	if got := gitRun(t, other, "log", "-1", "--format=%s", "origin/long"); strings.TrimSpace(got) != "add last.txt" {
		t.Errorf("origin/long is %q", got)
	}
}

func TestGateTakesATokenFromGitsCredentialHelperForADeclaredURLOnly(t *testing.T) {
	tmp := t.TempDir()
	ws := filepath.Join(tmp, "ws")
	gitRun(t, tmp, "init", "-q", "-b", "main", ws)
	commit(t, ws, "f.txt", "one")
	gitRun(t, ws, "remote", "add", "origin", "https://git.example.test/me/app.git")
	gitRun(t, ws, "remote", "add", "fork", "https://git.example.test/someone/app.git")
	// The host user's git has a credential helper that knows every URL.
	t.Setenv("HOME", tmp)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "credential.helper")
	t.Setenv("GIT_CONFIG_VALUE_0", `!f() { test "$1" = get && echo username=me && echo password=from-the-helper; }; f`)
	g := &config.Git{Remotes: map[string]config.GitRemote{"origin": {URL: "https://git.example.test/me/app.git"}}}
	p, err := NewPlan(context.Background(), "abc123", survey(t, ws), g)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Config.Remotes {
		switch r.Name {
		case "origin":
			if r.Token == "" || string(p.secrets[r.Token]) != "from-the-helper" || r.Username != "me" {
				t.Errorf("declared origin: token %q (%q), user %q", r.Token, p.secrets[r.Token], r.Username)
			}
		case "fork":
			if r.Token != "" {
				t.Errorf("the repository's own remote got a credential: %+v", r)
			}
		}
	}
}

// Only a url in the person's config names a git destination for the
// gateway's special ranges; a remote only the repository names is noted.
func TestPlanNamesOnlyTheConfigsDestinations(t *testing.T) {
	tmp := t.TempDir()
	ws := filepath.Join(tmp, "ws")
	gitRun(t, tmp, "init", "-q", "-b", "main", ws)
	commit(t, ws, "f.txt", "one")
	gitRun(t, ws, "remote", "add", "origin", "http://127.0.0.1:8999/app.git")
	gitRun(t, ws, "remote", "add", "mirror", "https://git.example.com/app.git")
	gitRun(t, ws, "remote", "add", "named", "http://127.0.0.1:9000/app.git")
	g := &config.Git{Remotes: map[string]config.GitRemote{"named": {URL: "http://127.0.0.1:9000/app.git"}}}
	p, err := NewPlan(context.Background(), "abc123", survey(t, ws), g)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(p.Destinations)
	if want := []string{"127.0.0.1:8999", "127.0.0.1:9000", "git.example.com:443"}; !slices.Equal(p.Destinations, want) {
		t.Errorf("destinations %v, want %v", p.Destinations, want)
	}
	if want := []string{"127.0.0.1:9000"}; !slices.Equal(p.Named, want) {
		t.Errorf("named %v, want %v", p.Named, want)
	}
	if !strings.Contains(p.Notes["origin"], "the gateway refuses it unless your config names this remote's url") {
		t.Errorf("origin's note: %q", p.Notes["origin"])
	}
	if p.Notes["mirror"] != "" && strings.Contains(p.Notes["mirror"], "refuses") || strings.Contains(p.Notes["named"], "refuses") {
		t.Errorf("notes %v", p.Notes)
	}
}
