//go:build e2e

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/engines"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// The end-to-end tests run the built bottle binary against the Podman
// service the environment names (hack/e2e.sh runs them rootful as root and
// rootless as an unprivileged user). They never skip: a missing Podman fails.

func bottleBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("BOTTLE_BIN")
	if bin == "" {
		t.Fatal("BOTTLE_BIN must name the bottle binary under test (make e2e sets it)")
	}
	return bin
}

func baseImage() string {
	if img := os.Getenv("BOTTLE_E2E_IMAGE"); img != "" {
		return img
	}
	return "localhost/bottle-base:latest"
}

func rootless() bool { return os.Geteuid() != 0 }

// env is one test's private world: its own config and state folders, so its
// bottles carry their own root label and no other test sees them.
type env struct {
	t       *testing.T
	dir     string
	state   string
	config  string
	workdir string
	// extraEnv is added to every bottle command's environment.
	extraEnv []string
}

const baseConfig = `
[agents.t]
image = "%IMAGE%"
command = ["/bin/sh"]
memory = "256m"
pids = 256
`

func newEnv(t *testing.T, extraConfig string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, state: filepath.Join(dir, "state"), config: filepath.Join(dir, "config.toml"), workdir: filepath.Join(dir, "work")}
	if err := os.MkdirAll(e.workdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if !rootless() {
		// A rootful agent takes the working directory's owner; give it a user's.
		if err := os.Chown(e.workdir, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	cfg := strings.ReplaceAll(baseConfig, "%IMAGE%", baseImage()) + extraConfig
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cleanup)
	return e
}

// rootDir is the bottle state root inside e.state.
func (e *env) rootDir() string { return filepath.Join(e.state, "bottle") }

func (e *env) command(args ...string) *exec.Cmd {
	cmd := exec.Command(bottleBin(e.t), append([]string{"--config", e.config}, args...)...)
	cmd.Dir = e.workdir
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+e.state, "XDG_CONFIG_HOME="+filepath.Join(e.dir, "xdg-config"))
	cmd.Env = append(cmd.Env, e.extraEnv...)
	return cmd
}

// run runs bottle to completion and returns its stdout, stderr and exit code.
func (e *env) run(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := e.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("run bottle %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// mustRun runs bottle and fails the test unless it exits 0.
func (e *env) mustRun(args ...string) string {
	e.t.Helper()
	out, errs, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("bottle %v exited %d\nstdout: %s\nstderr: %s", args, code, out, errs)
	}
	return out
}

// pods lists this env's pods, straight from Podman.
func (e *env) pods() []string {
	e.t.Helper()
	out, err := exec.Command("podman", "pod", "ls", "--filter", "label="+spec.LabelRoot+"="+sidecars.RootLabel(e.rootDir()), "--format", "{{.Name}}").Output()
	if err != nil {
		e.t.Fatalf("podman pod ls: %v", err)
	}
	return strings.Fields(string(out))
}

// states lists this env's bottle state folders.
func (e *env) states() []string {
	entries, _ := os.ReadDir(e.rootDir())
	var out []string
	for _, d := range entries {
		switch d.Name() {
		case engines.ClustersFile, state.BindsFile, state.KeptQuarantine: // the root's, not a bottle's
		default:
			out = append(out, d.Name())
		}
	}
	return out
}

// assertClean fails unless this env has no pod and no state left.
func (e *env) assertClean() {
	e.t.Helper()
	if p := e.pods(); len(p) != 0 {
		e.t.Errorf("pods left behind: %v", p)
	}
	if c := e.containers(); len(c) != 0 {
		e.t.Errorf("containers left behind: %v", c)
	}
	if s := e.states(); len(s) != 0 {
		e.t.Errorf("state left behind: %v", s)
	}
}

func (e *env) cleanup() {
	for _, p := range e.pods() {
		exec.Command("podman", "pod", "rm", "-f", "-t", "0", p).Run()
	}
	for _, c := range e.containers() {
		exec.Command("podman", "rm", "-f", "-t", "0", c).Run()
	}
}

// containers lists this env's containers, in pods or beside them.
func (e *env) containers() []string {
	e.t.Helper()
	out, err := exec.Command("podman", "ps", "-a", "--filter", "label="+spec.LabelRoot+"="+sidecars.RootLabel(e.rootDir()), "--format", "{{.Names}}").Output()
	if err != nil {
		e.t.Fatalf("podman ps: %v", err)
	}
	return strings.Fields(string(out))
}

// buildLeftovers counts the store's build working containers, which only
// Podman's storage knows (they are not Podman containers): a build through
// the API that keeps them leaves one mounted per step, for good.
func (e *env) buildLeftovers() int {
	e.t.Helper()
	out, err := exec.Command("podman", "ps", "-a", "--external", "--format", "{{.Names}}").Output()
	if err != nil {
		e.t.Fatalf("podman ps --external: %v", err)
	}
	n := 0
	for _, name := range strings.Fields(string(out)) {
		if strings.HasSuffix(name, "-working-container") {
			n++
		}
	}
	return n
}

// poll waits for cond, failing the test after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// withoutEnv drops one variable from an environment.
func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// terminal is a tmux window running one bottle command: keys go in, the
// screen comes out, as a person would see it.
type terminal struct {
	t       *testing.T
	session string
}

// newTerminal runs bottle ARGS in e's environment in a width x height window.
func newTerminal(t *testing.T, e *env, width, height int, args ...string) *terminal {
	t.Helper()
	term := &terminal{t: t, session: fmt.Sprintf("bottle-e2e-%d", time.Now().UnixNano())}
	term.start(e, width, height, args...)
	t.Cleanup(func() { exec.Command("tmux", "-L", term.session, "kill-server").Run() })
	return term
}

// start runs another command in the terminal's session (the last one ended).
func (term *terminal) start(e *env, width, height int, args ...string) {
	cmd := e.command(args...)
	shell := fmt.Sprintf("cd %s && env %s %s; echo $? > %s", e.workdir,
		strings.Join(quoteAll(cmd.Env[len(os.Environ()):]), " "), strings.Join(quoteAll(cmd.Args), " "), filepath.Join(e.dir, "terminal-exit"))
	os.Remove(filepath.Join(e.dir, "terminal-exit"))
	term.tmux("new-session", "-d", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), "-s", term.session, shell)
}

func (term *terminal) tmux(args ...string) string {
	term.t.Helper()
	b, err := exec.Command("tmux", append([]string{"-L", term.session}, args...)...).CombinedOutput()
	if err != nil {
		term.t.Fatalf("tmux %v: %v: %s", args, err, b)
	}
	return string(b)
}

// keys sends tmux key names (Enter, Tab, Escape, or single characters).
func (term *terminal) keys(keys ...string) {
	for _, k := range keys {
		term.tmux("send-keys", "-t", term.session, k)
	}
}

// text types text literally.
func (term *terminal) text(s string) { term.tmux("send-keys", "-t", term.session, "-l", s) }

func (term *terminal) screen() string { return term.tmux("capture-pane", "-p", "-t", term.session) }

// waitFor waits for text on the screen, and shows the screen if it never comes.
func (term *terminal) waitFor(what, text string) {
	term.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := term.screen()
		if strings.Contains(s, text) {
			return
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("timed out waiting for %s (%q); the screen:\n%s", what, text, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gone reports whether the command in the terminal has ended.
func (term *terminal) gone() bool {
	return exec.Command("tmux", "-L", term.session, "has-session", "-t", term.session).Run() != nil
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}
