package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/hostiletest"
	"github.com/bottle-sandbox/bottle/internal/workspace"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/state"
)

// The hostile-tree harness over the lifecycle's host-side steps: each step
// runs on a fixture whose folders a container writes (the bind workspace,
// the agent's home and git folder, the egress, git gate and supervise
// folders) get a link or a swap planted at every path the step touches.

// world is one fixture: a person's home with a login, a bind workspace
// that is a repository (with a nested one, and a remote the gate holds),
// a profile with home_files, setup, a signin and an injected credential,
// and, unless fresh, a kept bottle that has run once.
type world struct {
	base, home, workdir string
	root                state.Root
	eng                 *fakeEngine
	env                 Env
	agent               *config.Agent
	b                   *state.Bottle
}

const harnessProfile = `
[agents.h]
extends = "shell"
image = "localhost/bottle-base:latest"
workspace = "bind"
setup = [".gemini/GEMINI.md"]
signin = { agent = "gemini", use = "credentials" }
home_files = { ".gemini/settings.json" = '{"mcpServers":{"bottle":{"httpUrl":"{supervise_url}"}}}' }

[[agents.h.egress]]
host = "generativelanguage.googleapis.com"
ports = [443]

[[agents.h.egress]]
host = "api.example.com"
ports = [443]
credential = { header = "x-key", from_env = "BOTTLE_HARNESS_KEY" }
`

func run(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// harnessHome is the person's home every world shares (set as $HOME for
// the whole test binary, so the steps may run in parallel): their Gemini
// login and setup, and a folder of theirs.
var harnessHome string

func TestMain(m *testing.M) {
	gitgate.ReaderStack = 2 << 20 // a reader the agent's folder kills dies sooner
	gitgate.ChildMain()           // the git reader, when the steps start one
	dir, err := os.MkdirTemp("", "bottle-harness-home-")
	if err != nil {
		panic(err)
	}
	harnessHome = filepath.Join(dir, "home")
	os.MkdirAll(filepath.Join(harnessHome, ".gemini"), 0o700)
	os.MkdirAll(filepath.Join(harnessHome, "folder"), 0o700)
	os.WriteFile(filepath.Join(harnessHome, ".gemini", "oauth_creds.json"), []byte(`{"access_token":"`+hostiletest.Marker+`-access","refresh_token":"`+hostiletest.Marker+`-refresh","id_token":"a.b.c","token_type":"Bearer","expiry_date":4102444800000,"scope":"openid"}`), 0o600)
	os.WriteFile(filepath.Join(harnessHome, ".gemini", "GEMINI.md"), []byte("be brief\n"), 0o600)
	os.WriteFile(filepath.Join(harnessHome, "folder", "kept"), []byte(hostiletest.Marker+"-folder"), 0o600)
	os.Chmod(dir, 0o755)
	for k, v := range map[string]string{"HOME": harnessHome, "XDG_CACHE_HOME": filepath.Join(dir, "cache"), "XDG_CONFIG_HOME": filepath.Join(dir, "config"),
		"XDG_STATE_HOME": filepath.Join(dir, "state"), "GEMINI_API_KEY": "", "BOTTLE_HARNESS_KEY": hostiletest.Marker + "-route-key"} {
		os.Setenv(k, v)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildWorld makes a world at base; fresh leaves out the bottle.
func buildWorld(t *testing.T, base string, fresh bool) *world {
	t.Helper()
	w := &world{base: base, home: harnessHome, workdir: filepath.Join(base, "work")}
	for _, d := range []string{w.workdir, filepath.Join(base, "state"), filepath.Join(base, "config", "bottle")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(base, "config", "bottle", "config.toml"), []byte(harnessProfile), 0o600)
	os.WriteFile(filepath.Join(base, "exe"), []byte("bottle"), 0o755)
	run(t, base, "git", "init", "-q", "--template=", "--bare", "-b", "main", "upstream.git")
	run(t, w.workdir, "git", "init", "-q", "--template=", "-b", "main")
	os.WriteFile(filepath.Join(w.workdir, "f.txt"), []byte("one\n"), 0o644)
	run(t, w.workdir, "git", "add", "f.txt")
	run(t, w.workdir, "git", "commit", "-qm", "one")
	run(t, w.workdir, "git", "remote", "add", "origin", filepath.Join(base, "upstream.git"))
	run(t, w.workdir, "git", "push", "-q", "origin", "main")
	os.MkdirAll(filepath.Join(w.workdir, "vendor", "lib"), 0o755)
	run(t, filepath.Join(w.workdir, "vendor", "lib"), "git", "init", "-q", "--template=", "-b", "main")
	if os.Getuid() == 0 {
		// Rootful, the agent runs as the working directory's owner.
		run(t, base, "chown", "-R", "1000:1000", w.workdir)
	}
	w.env0(t)
	if !fresh {
		l := &Launch{Agent: w.agent, Workdir: w.workdir, Yes: true, Keep: true, ShowPreflight: noPreflight}
		if err := l.Run(context.Background(), w.env); err != nil {
			t.Fatalf("the first start: %v", err)
		}
		bs, err := w.root.List()
		if err != nil || len(bs) != 1 {
			t.Fatalf("bottles after the first start: %v %v", bs, err)
		}
		w.b = bs[0]
		// What the agent did while it ran: a request, audit lines, a commit.
		store := supervise.Store{Dir: w.b.SuperviseDir(), Log: w.b.ApprovalsLog()}
		if err := store.Put(&supervise.Request{ID: "r0123456789abcdef", Kind: supervise.KindEgress, Host: "pypi.org", Ports: []int{443}, Reason: "pip", Status: supervise.StatusPending, CreatedAt: time.Unix(1, 0)}); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(w.b.EgressDir(), "audit.jsonl"), []byte(`{"host":"api.example.com","decision":"allow"}`+"\n"), 0o600)
		os.WriteFile(filepath.Join(agent.HomeDir(w.b.AgentDir()), "notes.txt"), []byte("agent\n"), 0o600)
	}
	return w
}

// env0 loads the world's profile and makes its Env.
func (w *world) env0(t *testing.T) {
	t.Helper()
	w.root = state.Root{Dir: filepath.Join(w.base, "state", "bottle")}
	cfg, err := config.Load(config.Sources{User: filepath.Join(w.base, "config", "bottle", "config.toml"), Explicit: true, Workdir: filepath.Join(w.workdir, "bottle.toml")})
	if err != nil {
		t.Fatal(err)
	}
	if w.agent, err = cfg.Agent("h"); err != nil {
		t.Fatal(err)
	}
	w.eng = newFakeEngine()
	w.env = Env{Root: w.root, Engine: w.eng, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Version: "test",
		Exe: filepath.Join(w.base, "exe"), Ask: func(context.Context, string) error { return nil }}
}

func noPreflight(io.Writer, Preflight) error { return nil }

// fixtures builds a world once, then hands out fresh copies of it at the
// same path (the records hold absolute paths).
func fixtures(t *testing.T, fresh bool, step func(t *testing.T, w *world) error) func(t *testing.T) *hostiletest.Fixture {
	return fixturesAfter(t, fresh, nil, step)
}

// fixturesAfter is fixtures of a world in which made did something more
// first (what an agent left in its workspace, say).
func fixturesAfter(t *testing.T, fresh bool, made func(t *testing.T, w *world), step func(t *testing.T, w *world) error) func(t *testing.T) *hostiletest.Fixture {
	base := filepath.Join(t.TempDir(), "w")
	tmpl := base + ".template"
	w := buildWorld(t, base, fresh)
	if made != nil {
		made(t, w)
	}
	if err := os.Rename(base, tmpl); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(base), 0o755)
	return func(t *testing.T) *hostiletest.Fixture {
		os.RemoveAll(base)
		if out, err := exec.Command("cp", "-a", tmpl, base).CombinedOutput(); err != nil {
			t.Fatalf("copy the world: %v %s", err, out)
		}
		w := *w
		w.env0(t)
		if !fresh {
			w.b = w.root.Bottle(w.b.ID)
			reseal(t, w.b)
		}
		fx := &hostiletest.Fixture{
			Outside: w.home,
			Login:   filepath.Join(w.home, ".gemini", "oauth_creds.json"),
			Scan:    []string{w.workdir, w.root.Dir},
			Hostile: []string{w.workdir},
			Mounts:  w.eng.mounts,
			// Where a bottle keeps the secrets it injects: the proxy's
			// secrets, and the gate's list of what a push may not carry.
			Holds: func(p string) bool {
				return strings.HasSuffix(p, "/egress/secrets.json") || strings.Contains(p, "/git-gate/secret/")
			},
			Step: func() error { return step(t, &w) },
		}
		if w.b == nil {
			// Another kept bottle's secrets, which must not spread either.
			other := w.root.Bottle("other-aaaaa")
			os.MkdirAll(other.EgressDir(), 0o700)
			fx.Secrets = filepath.Join(other.EgressDir(), "secrets.json")
			os.WriteFile(fx.Secrets, []byte(`{"route-0":"`+hostiletest.Marker+`-secret"}`), 0o600)
		} else {
			fx.Secrets = filepath.Join(w.b.EgressDir(), "secrets.json") // its own: the route's key is Marker's
			fx.Own = filepath.Join(w.b.Dir, "harness-own")
			os.WriteFile(fx.Own, []byte(hostiletest.Marker+"-own"), 0o600)
			fx.Hostile = append(fx.Hostile, agent.HomeDir(w.b.AgentDir()), agent.GitFolder(w.b.AgentDir()).Path(),
				w.b.EgressDir(), w.b.GitGateDir(), w.b.SuperviseDir())
		}
		return fx
	}
}

// reseal records the copied workspace's entries as the first start would
// have (a copy has inodes of its own).
func reseal(t *testing.T, b *state.Bottle) {
	t.Helper()
	data, err := b.Record(state.WorkspaceFile)
	if err != nil {
		t.Fatal(err)
	}
	r, err := workspace.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	for rel, e := range r.Seen {
		fi, err := os.Lstat(filepath.Join(r.Dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		e.Dev, e.Ino = uint64(st.Dev), uint64(st.Ino)
		r.Seen[rel] = e
	}
	if fi, err := os.Stat(r.Dir); err == nil {
		st := fi.Sys().(*syscall.Stat_t)
		r.Root.Dev, r.Root.Ino = uint64(st.Dev), uint64(st.Ino)
	}
	if err := writeRecord(b, r); err != nil {
		t.Fatal(err)
	}
}

func TestHostileTreeFirstStart(t *testing.T) {
	t.Parallel()
	hostiletest.Run(t, fixtures(t, true, func(t *testing.T, w *world) error {
		l := &Launch{Agent: w.agent, Workdir: w.workdir, Yes: true, Keep: true, ShowPreflight: noPreflight}
		return l.Run(context.Background(), w.env)
	}))
}

func TestHostileTreeResume(t *testing.T) {
	t.Parallel()
	hostiletest.Run(t, fixtures(t, false, func(t *testing.T, w *world) error {
		r := &Resume{ID: w.b.ID, Yes: true, Keep: true, ShowPreflight: noPreflight,
			ConfigFile: filepath.Join(w.base, "config", "bottle", "config.toml")}
		return r.Run(context.Background(), w.env)
	}))
}

func TestHostileTreeSettle(t *testing.T) {
	t.Parallel()
	hostiletest.Run(t, fixtures(t, false, func(t *testing.T, w *world) error {
		return Settle(context.Background(), w.b, io.Discard)
	}))
}

// TestHostileTreeSettleQuarantines: the settle of a bottle whose agent
// left git metadata in its workspace (a new repository with another deep
// in it, a git folder of its own beside the project's) moves it to the
// bottle's quarantine and renames what git would find there (defuse).
// What the quarantine holds is the agent's too, from this session or an
// earlier one: it is a hostile folder here, and each path the moves and
// renames touch in it, as in the workspace, gets the harness's links and
// swaps.
func TestHostileTreeSettleQuarantines(t *testing.T) {
	t.Parallel()
	planted := false
	made := []string{"newmod/.git/HEAD", "newmod/.git/sub/.git/HEAD", "docs/gitdir/HEAD", "docs/gitdir/objects/bb", "docs/gitdir/refs/x"}
	fixtures := fixturesAfter(t, false, func(t *testing.T, w *world) {
		for _, f := range made {
			p := filepath.Join(w.workdir, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("ref: refs/heads/main\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if os.Getuid() == 0 {
			run(t, w.base, "chown", "-R", "1000:1000", w.workdir)
		}
	}, func(t *testing.T, w *world) error {
		err := Settle(context.Background(), w.b, io.Discard)
		if !planted {
			// The run with nothing planted quarantines and defuses all of it.
			planted = true
			for _, f := range []string{"newmod/.git.quarantined/HEAD.quarantined", "newmod/.git.quarantined/sub/.git.quarantined/HEAD.quarantined",
				"docs/gitdir/HEAD.quarantined"} {
				if _, serr := os.Lstat(filepath.Join(w.b.QuarantineDir(), f)); serr != nil {
					t.Errorf("the quarantine, with nothing planted: %v", serr)
				}
			}
		}
		return err
	})
	hostiletest.Run(t, func(t *testing.T) *hostiletest.Fixture {
		fx := fixtures(t)
		q := filepath.Join(filepath.Dir(fx.Own), state.QuarantineDir) // the bottle's
		if err := os.MkdirAll(q, 0o700); err != nil {
			t.Fatal(err)
		}
		fx.Hostile = append(fx.Hostile, q)
		// Inside what is moved whole, too: each path of the agent's trees.
		for _, f := range made {
			fx.Paths = append(fx.Paths, filepath.Join(fx.Hostile[0], f))
		}
		return fx
	})
}

func TestHostileTreeGitFetch(t *testing.T) {
	t.Parallel()
	hostiletest.Run(t, fixtures(t, false, func(t *testing.T, w *world) error {
		_, err := GitFetch(context.Background(), w.env, w.b.ID, "")
		return err
	}))
}

// TestHostileTreeGitFetchReaderDies: a fetch-back whose git reader the
// agent's git folder kills (a self-referencing delta on a branch after a
// good one). What the reader wrote before it died (the good branch's
// objects, root's when rootful) is given back by the parent: that walk of
// the person's .git gets the harness's links and swaps as any other.
func TestHostileTreeGitFetchReaderDies(t *testing.T) {
	t.Parallel()
	died := false
	hostiletest.Run(t, fixturesAfter(t, false, func(t *testing.T, w *world) {
		plantReaderBomb(t, w)
		os.RemoveAll(filepath.Join(w.base, "agent-clone"))
		git := agent.GitFolder(w.b.AgentDir()).Path()
		if os.Getuid() == 0 {
			run(t, w.base, "chown", "-R", "1000:1000", git)
		}
	}, func(t *testing.T, w *world) error {
		_, err := GitFetch(context.Background(), w.env, w.b.ID, "")
		if err != nil && strings.Contains(err.Error(), "could not be read") {
			died = true
			return nil // the reader's death is what this world is for
		}
		if !died {
			// The run with nothing planted is the one the harness learns from:
			// its reader must have died there.
			t.Fatalf("the git reader did not die on the agent's folder: %v", err)
		}
		return err
	}))
}

func TestHostileTreeStopRemoveGC(t *testing.T) {
	t.Parallel()
	for name, step := range map[string]func(w *world) error{
		"stop": func(w *world) error { return Stop(context.Background(), w.env, w.b, w.b.ID) },
		"rm":   func(w *world) error { return Remove(context.Background(), w.env, w.b, w.b.ID) },
		"gc": func(w *world) error {
			os.Remove(filepath.Join(w.b.Dir, state.PreserveFile)) // its pod gone, not kept
			return GC(context.Background(), w.env)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			hostiletest.Run(t, fixtures(t, false, func(t *testing.T, w *world) error { return step(w) }))
		})
	}
}

func TestHostileTreeLogs(t *testing.T) {
	t.Parallel()
	for _, service := range []string{"egress", "git-gate"} {
		t.Run(service, func(t *testing.T) {
			t.Parallel()
			hostiletest.Run(t, fixtures(t, false, func(t *testing.T, w *world) error {
				var out bytes.Buffer
				err := Logs(context.Background(), w.env, LogsOf{ID: w.b.ID, Service: service, Audit: &out, Stdout: &out, Stderr: &out})
				if bytes.Contains(out.Bytes(), []byte(hostiletest.Marker)) {
					t.Errorf("bottle logs %s printed what was outside: %.80q", service, out.String())
				}
				return err
			}))
		})
	}
}

func TestHostileTreeApprove(t *testing.T) {
	t.Parallel()
	hostiletest.Run(t, fixtures(t, false, func(t *testing.T, w *world) error {
		_, err := Decide(context.Background(), w.env, Decision{Identity: w.b.ID, Request: "r0123456789abcdef", Status: supervise.StatusApproved, By: "t"})
		return err
	}))
}

func TestHostileTreeInspect(t *testing.T) {
	t.Parallel()
	hostiletest.Run(t, fixtures(t, false, func(t *testing.T, w *world) error {
		in, err := Inspect(context.Background(), w.env, w.b.ID)
		if data, _ := json.Marshal(in); bytes.Contains(data, []byte(hostiletest.Marker)) {
			t.Errorf("bottle inspect showed what was outside: %.120q", data)
		}
		return err
	}))
}
