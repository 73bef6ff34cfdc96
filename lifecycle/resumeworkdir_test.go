package lifecycle

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/hostiletest"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/state"
)

// TestResumeReadsNoPromptThroughAWorkdirReplacedByALink (attack, issue 19, second round):
// the first round made a bind bottle's working directory be recorded by
// device and inode (beneath.Dir.Expect), because a bottle whose folder lies
// in another bottle's bind workspace can have it replaced by a link by that
// other agent. A copy-mode bottle's resume still reads its working
// directory by path: the prompt_file its (hostile) repository's bottle.toml
// names is read with beneath.At(workdir), whose root follows a link, and
// config.checkPaths resolves the working directory through the same link,
// so the file is "inside" it. The other agent replaces the working
// directory by a link to the person's ~/.ssh; the resume reads the person's
// key into prompt.md, which is mounted into the agent's container.
func TestResumeReadsNoPromptThroughAWorkdirReplacedByALink(t *testing.T) {
	base := t.TempDir()
	workdir := filepath.Join(base, "outer", "cloned") // lies in another bottle's bind workspace, "outer"
	for _, d := range []string{workdir, filepath.Join(base, "state"), filepath.Join(base, "config")} {
		os.MkdirAll(d, 0o755)
	}
	// The person's private folder.
	ssh := filepath.Join(base, "home", ".ssh")
	os.MkdirAll(ssh, 0o700)
	secret := hostiletest.Marker + "-ssh-private-key"
	os.WriteFile(filepath.Join(ssh, "id_ed25519"), []byte(secret), 0o600)
	// The hostile repository: its bottle.toml names a prompt file, which
	// it ships harmless for the first start.
	os.WriteFile(filepath.Join(workdir, "bottle.toml"), []byte("[agents.h]\nprompt_file = \"id_ed25519\"\n"), 0o644)
	os.WriteFile(filepath.Join(workdir, "id_ed25519"), []byte("fix the tests\n"), 0o644)
	env, b, userCfg := firstCopyStart(t, base, workdir)

	// The agent of the bottle in "outer" swaps the folder for a link.
	if err := os.RemoveAll(workdir); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ssh, workdir); err != nil {
		t.Fatal(err)
	}

	r := &Resume{ID: b.ID, Yes: true, ConfigFile: userCfg, ShowPreflight: noPreflight}
	err := r.Run(context.Background(), env)
	t.Logf("resume: %v", err)
	prompt, _ := os.ReadFile(filepath.Join(b.AgentDir(), "prompt.md"))
	if strings.Contains(string(prompt), secret) {
		t.Errorf("the resume read the person's ~/.ssh/id_ed25519 through the link into the prompt the agent's container mounts (%s)", filepath.Join(b.AgentDir(), "prompt.md"))
	}
}

// TestAgentBranchNamesReachTheTerminalClean (attack, issue 19, second round): the threat
// model says text from a bottle reaches the person's terminal with C1
// controls and bidi overrides replaced (internal/termtext). A branch name
// is the agent's text: git (and go-git's Validate) refuse only ASCII
// controls in a ref name, so the agent names a branch with U+009B (CSI, a
// C1 control: "clear the screen, home the cursor") and U+202E (right-to-
// left override). The session's end (Settle) and bottle git fetch print
// the name as it is.
func TestAgentBranchNamesReachTheTerminalClean(t *testing.T) {
	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
	gitDir := agent.GitFolder(w.b.AgentDir()).Path()
	name := "x\u009b2J\u009b1;1Hall-tests-pass\u202eexe.txt"
	tree := gitOut(t, gitDir, "rev-parse", "HEAD^{tree}")
	head := gitOut(t, gitDir, "rev-parse", "HEAD")
	c := gitOut(t, gitDir, "commit-tree", tree, "-p", head, "-m", "agent")
	gitOut(t, gitDir, "update-ref", "refs/heads/"+name, c)

	var out bytes.Buffer
	err := Settle(context.Background(), w.b, &out)
	t.Logf("settle: %v\n%s", err, out.String())
	if s := out.String(); termtext.Clean(s, true) != s {
		t.Errorf("the session's end wrote the agent's C1 control or bidi override to the person's terminal: %q", s)
	}
	lines, err := GitFetch(context.Background(), w.env, w.b.ID, "")
	t.Logf("git fetch: %q %v", lines, err)
	for _, l := range lines {
		if termtext.Clean(l, false) != l {
			t.Errorf("bottle git fetch prints, as it is, the agent's branch name with a C1 control or bidi override: %q", l)
		}
	}
}

func gitOut(t *testing.T, gitDir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"--git-dir=" + gitDir, "-c", "safe.directory=*"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestResumeBuildsNoContextThroughAWorkdirReplacedByALink (attack, issue
// 19): the same hole as TestResumeReadsNoPromptThroughAWorkdirReplacedByALink,
// through the build: a copy bottle B whose repository's bottle.toml names
// a Containerfile and the context "." lies at ~/outer/cloned, in bind
// bottle A's workspace ~/outer. A's agent replaces ~/outer/cloned by a
// link to ~ and writes the Containerfile B's record names (now
// ~/outer/x/Containerfile, in its own workspace): B's resume copies the
// person's whole home, ~/.ssh included, into the build context of the
// image B's agent runs in (an isolated build may COPY from its context).
func TestResumeBuildsNoContextThroughAWorkdirReplacedByALink(t *testing.T) {
	base := t.TempDir()
	home := filepath.Join(base, "home")
	outer := filepath.Join(home, "outer") // bottle A's bind workspace
	workdir := filepath.Join(outer, "cloned")
	for _, d := range []string{filepath.Join(workdir, "outer", "x"), filepath.Join(base, "state"), filepath.Join(base, "config"), filepath.Join(home, ".ssh")} {
		os.MkdirAll(d, 0o755)
	}
	secret := hostiletest.Marker + "-ssh-private-key"
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), []byte(secret), 0o600)
	cf := "FROM localhost/bottle-base:latest\nCOPY . /opt/ctx\n"
	os.WriteFile(filepath.Join(workdir, "bottle.toml"), []byte("[agents.h]\ncontainerfile = \"outer/x/Containerfile\"\ncontext = \".\"\n"), 0o644)
	os.WriteFile(filepath.Join(workdir, "outer", "x", "Containerfile"), []byte(cf), 0o644)
	env, b, userCfg := firstCopyStart(t, base, workdir)

	// Bottle A's agent, in ~/outer.
	os.RemoveAll(workdir)
	os.Symlink(home, workdir)
	os.MkdirAll(filepath.Join(outer, "x"), 0o755)
	os.WriteFile(filepath.Join(outer, "x", "Containerfile"), []byte(cf), 0o644)

	r := &Resume{ID: b.ID, Yes: true, ConfigFile: userCfg, ShowPreflight: noPreflight}
	err := r.Run(context.Background(), env)
	t.Logf("resume: %v", err)
	got, _ := os.ReadFile(filepath.Join(b.AgentDir(), "workdir-build", "context", ".ssh", "id_ed25519"))
	if strings.Contains(string(got), secret) {
		t.Errorf("the resume copied the person's home (~/.ssh/id_ed25519 included) into the build context of the agent's image")
	}
}

// firstCopyStart makes the person's config (a copy-mode profile h), and
// starts and keeps a bottle of it in workdir, whose bottle.toml the test
// wrote: the first start, before the attack.
func firstCopyStart(t *testing.T, base, workdir string) (Env, *state.Bottle, string) {
	t.Helper()
	userCfg := filepath.Join(base, "config", "config.toml")
	os.WriteFile(userCfg, []byte("[agents.h]\nextends = \"shell\"\nimage = \"localhost/bottle-base:latest\"\nworkspace = \"copy\"\n"), 0o600)
	os.WriteFile(filepath.Join(base, "exe"), []byte("bottle"), 0o755)

	cfg, err := config.Load(config.Sources{User: userCfg, Explicit: true, Workdir: filepath.Join(workdir, "bottle.toml")})
	if err != nil {
		t.Fatal(err)
	}
	a, err := cfg.Agent("h")
	if err != nil {
		t.Fatal(err)
	}
	root := state.Root{Dir: filepath.Join(base, "state", "bottle")}
	env := Env{Root: root, Engine: newFakeEngine(), Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Version: "test",
		Exe: filepath.Join(base, "exe"), Ask: func(context.Context, string) error { return nil }}
	l := &Launch{Agent: a, Workdir: workdir, Yes: true, Keep: true, WorkdirConfig: cfg.WorkdirData, ShowPreflight: noPreflight}
	if err := l.Run(context.Background(), env); err != nil {
		t.Fatalf("the first start: %v", err)
	}
	bs, err := root.List()
	if err != nil || len(bs) != 1 {
		t.Fatalf("bottles: %v %v", bs, err)
	}
	return env, bs[0], userCfg
}
