//go:build e2e

package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/engines"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
	netv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
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
	e.awaitTeardowns()
	return e.commandNow(args...)
}

// commandNow is command without waiting for the teardowns under way.
func (e *env) commandNow(args ...string) *exec.Cmd {
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

// awaitTeardowns waits for the teardowns of this env's sessions, which
// each session hands off to a process of its own once its agent ends
// (state.TeardownFile), to be done: what a test checks after a session is
// what its whole teardown leaves. One that is never done fails the test.
func (e *env) awaitTeardowns() {
	e.t.Helper()
	poll(e.t, 2*time.Minute, "the sessions' teardowns", func() bool {
		pending, _ := filepath.Glob(filepath.Join(e.rootDir(), "*", state.TeardownFile))
		going, _ := filepath.Glob(filepath.Join(e.rootDir(), state.GonePrefix+"*"))
		return len(pending)+len(going) == 0
	})
}

// pods lists this env's pods, straight from Podman.
func (e *env) pods() []string {
	e.t.Helper()
	e.awaitTeardowns()
	out, err := exec.Command("podman", "pod", "ls", "--filter", "label="+spec.LabelRoot+"="+sidecars.RootLabel(e.rootDir()), "--format", "{{.Name}}").Output()
	if err != nil {
		e.t.Fatalf("podman pod ls: %v", err)
	}
	return strings.Fields(string(out))
}

// states lists this env's bottle state folders.
func (e *env) states() []string {
	e.awaitTeardowns()
	entries, _ := os.ReadDir(e.rootDir())
	var out []string
	for _, d := range entries {
		switch d.Name() {
		case engines.ClustersFile, state.BindsFile, state.CreateFile, state.KeptQuarantine, state.PoolFile, state.PoolLog: // the root's, not a bottle's
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
	e.awaitTeardowns()
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
	e.awaitTeardowns()
	// The listing takes in every test's containers, and Podman fails it
	// (exit 125) when one goes while it lists: another test's teardown,
	// now a process of its own. It is read again then.
	var out []byte
	var err error
	for range 10 {
		if out, err = exec.Command("podman", "ps", "-a", "--external", "--format", "{{.Names}}").Output(); err == nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
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

// messagesAPI stands in for the Anthropic Messages API on the host's
// loopback: it answers with server-sent events, as the real one does, and
// records each request's key and conversation.
type messagesAPI struct {
	URL, CAFile string
	mu          sync.Mutex
	keys        []string
	convs       [][]json.RawMessage
	bearers     []string // Authorization headers, every path
	paths       []string // every request's method and path
	// OAuth token endpoint: the refresh token that works (once), and those sent.
	refresh string
	grants  []string
	n       int
	slow    time.Duration // how long a good grant's answer takes
}

func newMessagesAPI(t *testing.T) *messagesAPI {
	t.Helper()
	api := &messagesAPI{}
	caPEM, cert := testCert(t)
	api.CAFile = filepath.Join(t.TempDir(), "api-ca.pem")
	os.WriteFile(api.CAFile, caPEM, 0o644)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	api.URL = "https://" + ln.Addr().String()
	return api
}

func (a *messagesAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.bearers = append(a.bearers, r.Header.Get("Authorization"))
	a.paths = append(a.paths, r.Method+" "+r.URL.Path)
	a.mu.Unlock()
	switch r.URL.Path {
	case "/v1/oauth/token": // a refresh grant: each refresh token works once
		var g map[string]string
		json.Unmarshal(body, &g)
		a.mu.Lock()
		defer a.mu.Unlock()
		a.grants = append(a.grants, g["refresh_token"])
		if g["grant_type"] != "refresh_token" || g["refresh_token"] != a.refresh {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		a.n++
		a.refresh = fmt.Sprintf("sk-ant-ort01-e2e-real-%d", a.n)
		if a.slow > 0 { // the token is spent; the answer takes its time
			a.mu.Unlock()
			time.Sleep(a.slow)
			a.mu.Lock()
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("sk-ant-oat01-e2e-real-%d", a.n), "refresh_token": a.refresh,
			"expires_in": 28800, "token_type": "Bearer", "scope": "user:inference user:profile user:sessions:claude_code",
			"account":      map[string]string{"uuid": "00000000-0000-4000-8000-000000000001", "email_address": "e2e@example.test"},
			"organization": map[string]string{"uuid": "00000000-0000-4000-8000-000000000002", "name": "e2e"}})
		return
	case "/api/oauth/profile":
		json.NewEncoder(w).Encode(map[string]any{
			"account":      map[string]any{"uuid": "00000000-0000-4000-8000-000000000001", "email": "e2e@example.test", "has_claude_max": true},
			"organization": map[string]any{"uuid": "00000000-0000-4000-8000-000000000002", "organization_type": "claude_max", "rate_limit_tier": "default_claude_max_20x"}})
		return
	case "/v1/messages":
	default:
		return // connectivity checks and the like: 200, empty
	}
	var req struct {
		Stream   bool              `json:"stream"`
		Messages []json.RawMessage `json:"messages"`
	}
	json.Unmarshal(body, &req)
	a.mu.Lock()
	a.keys = append(a.keys, r.Header.Get("x-api-key"))
	a.convs = append(a.convs, req.Messages)
	n := len(a.convs)
	a.mu.Unlock()
	text := fmt.Sprintf("stand-in reply number %d", n)
	w.Header().Set("Content-Type", "text/event-stream")
	ev := func(name string, data any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	}
	usage := map[string]int{"input_tokens": 10, "output_tokens": 5}
	ev("message_start", map[string]any{"type": "message_start", "message": map[string]any{"id": fmt.Sprintf("msg_%d", n), "type": "message", "role": "assistant", "model": "claude-stand-in", "content": []any{}, "stop_reason": nil, "usage": usage}})
	ev("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
	ev("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": text}})
	ev("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	ev("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil}, "usage": usage})
	ev("message_stop", map[string]any{"type": "message_stop"})
}

func (a *messagesAPI) seen() ([]string, [][]json.RawMessage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.keys...), append([][]json.RawMessage(nil), a.convs...)
}

// claudeImage lays out a build context for an image with the real Claude
// Code: the base image, the glibc its native binary links, and the binary.
func claudeImage(t *testing.T, dir string) {
	t.Helper()
	bin := os.Getenv("BOTTLE_E2E_CLAUDE")
	if bin == "" {
		t.Fatal("BOTTLE_E2E_CLAUDE must name Claude Code's native binary (hack/e2e.sh installs it from npm)")
	}
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	cf := "FROM " + baseImage() + "\n"
	for _, lib := range []string{"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/librt.so.1",
		"/lib/x86_64-linux-gnu/libpthread.so.0", "/lib/x86_64-linux-gnu/libdl.so.2", "/lib/x86_64-linux-gnu/libm.so.6"} {
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			t.Fatal(err)
		}
		copyFile(t, real, filepath.Join(dir, "lib", filepath.Base(lib)))
		cf += fmt.Sprintf("COPY lib/%s %s\n", filepath.Base(lib), lib)
	}
	copyFile(t, bin, filepath.Join(dir, "claude"))
	cf += "COPY claude /usr/local/bin/claude\nENV PATH=/usr/local/bin:/bin\n"
	os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(cf), 0o644)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// watchProcesses makes the agent's command bin in the image laid out at
// dir a wrapper that runs it and, while it runs, writes the command line
// and environment of every process the agent's container sees, every 0.2
// s, to /workspace/.bottle-procs, for the test to search for real tokens;
// when it has run, the agent's outside calls (outsideScript) are made with
// the probe. (Its stdin is /dev/null: for commands given their prompt.)
func watchProcesses(t *testing.T, dir, bin, agent string) {
	t.Helper()
	wrapper := `#!/bin/sh
"$0-real" "$@" &
pid=$!
while kill -0 $pid 2>/dev/null; do
	for p in /proc/[0-9]*; do tr '\0' '\n' < $p/cmdline; echo; tr '\0' '\n' < $p/environ; echo; done >> /workspace/.bottle-procs 2>/dev/null
	sleep 0.2
done
wait $pid
rc=$?
` + outsideScript(agent) + "exit $rc\n"
	os.WriteFile(filepath.Join(dir, "watch"), []byte(wrapper), 0o755)
	copyFile(t, probeBin(t), filepath.Join(dir, "probe"))
	cf, err := os.ReadFile(filepath.Join(dir, "Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	cf = append(cf, fmt.Sprintf("RUN mv %[1]s %[1]s-real\nCOPY watch %[1]s\nCOPY probe /bin/probe\n", bin)...)
	os.WriteFile(filepath.Join(dir, "Containerfile"), cf, 0o644)
}

// assertProcessesClean reads what watchProcesses wrote in workdir: it must
// show the agent ran (ran in a command line, want in an environment) and
// hold no real token (nothing with marker in it).
func assertProcessesClean(t *testing.T, workdir, ran, want, marker string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(workdir, ".bottle-procs"))
	if err != nil || !strings.Contains(string(data), ran) || !strings.Contains(string(data), want) {
		t.Fatalf("the agent's processes were not seen (%v): %.600s", err, data)
	}
	if strings.Contains(string(data), marker) {
		t.Errorf("a real token is in the environment or arguments of a process in the agent's container")
	}
}

// responsesAPI stands in for OpenAI's Responses API on the host's
// loopback: each POST /v1/responses is answered with the events of one
// short assistant message; it records the bearer tokens it was sent.
type responsesAPI struct {
	URL, CAFile string
	mu          sync.Mutex
	bearers     []string
	accounts    []string
	paths       []string // every request, as method, path and bearer
	inputs      []string
	tokens      *chatgptTokens // the token endpoint, when it stands in for auth.openai.com too
	reject      int            // answer this many ChatGPT turns 401
}

// chatgptTokens stands in for auth.openai.com's token endpoint: each
// refresh grant with the refresh token it last issued gets new tokens
// (JWTs an hour long, the refresh token rotated); any other is refused.
type chatgptTokens struct {
	mu     sync.Mutex
	n      int
	grants []map[string]string
}

func chatgptJWT(sig string, exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"exp": exp.Unix(), "email": "e2e@example.test",
		"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": "acct-e2e", "chatgpt_plan_type": "plus", "chatgpt_user_id": "user-e2e"}})
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc(claims) + "." + sig
}

func (c *chatgptTokens) ServeHTTP(w http.ResponseWriter, r *http.Request, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var g map[string]string
	json.Unmarshal(body, &g)
	c.grants = append(c.grants, g)
	if g["grant_type"] != "refresh_token" || g["refresh_token"] != fmt.Sprintf("rt-e2e-real-%d", c.n) {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusUnauthorized)
		return
	}
	c.n++
	json.NewEncoder(w).Encode(map[string]any{"access_token": chatgptJWT(fmt.Sprintf("e2e-real-access-%d", c.n), time.Now().Add(time.Hour)),
		"id_token": chatgptJWT(fmt.Sprintf("e2e-real-id-%d", c.n), time.Now().Add(time.Hour)), "refresh_token": fmt.Sprintf("rt-e2e-real-%d", c.n)})
}

func newResponsesAPI(t *testing.T) *responsesAPI {
	t.Helper()
	api := &responsesAPI{}
	caPEM, cert := testCert(t)
	api.CAFile = filepath.Join(t.TempDir(), "api-ca.pem")
	os.WriteFile(api.CAFile, caPEM, 0o644)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	api.URL = "https://" + ln.Addr().String()
	return api
}

func (a *responsesAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.paths = append(a.paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
	a.mu.Unlock()
	if r.URL.Path == "/oauth/token" && a.tokens != nil {
		a.tokens.ServeHTTP(w, r, body)
		return
	}
	if r.URL.Path == "/backend-api/wham/accounts/check" {
		// Codex signed in with ChatGPT finds its workspace before a turn.
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"accounts":[{"id":"acct-e2e","workspace_backend_origin":"https://chatgpt.com","account_routing_override":"NO_CONSTRAINT"}],"account_ordering":["acct-e2e"]}`)
		return
	}
	// The Responses API, or ChatGPT's backend for Codex signed in with ChatGPT.
	if r.Method != http.MethodPost || (r.URL.Path != "/v1/responses" && r.URL.Path != "/backend-api/codex/responses") {
		http.NotFound(w, r)
		return
	}
	a.mu.Lock()
	if a.reject > 0 && r.URL.Path == "/backend-api/codex/responses" {
		// As ChatGPT's backend does when a token was revoked: Codex reloads
		// its login, tries again, then refreshes.
		a.reject--
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"message":"Your authentication token has expired.","code":"token_expired"}}`)
		return
	}
	a.bearers = append(a.bearers, r.Header.Get("Authorization"))
	a.accounts = append(a.accounts, r.Header.Get("Chatgpt-Account-Id"))
	a.inputs = append(a.inputs, string(body))
	n := len(a.bearers)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	ev := func(typ string, data map[string]any) {
		data["type"] = typ
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b)
	}
	text := fmt.Sprintf("stand-in codex reply number %d", n)
	id := fmt.Sprintf("resp_%d", n)
	item := map[string]any{"id": "msg_" + id, "type": "message", "role": "assistant", "status": "completed",
		"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}
	ev("response.created", map[string]any{"response": map[string]any{"id": id, "object": "response", "status": "in_progress", "output": []any{}}})
	ev("response.output_item.added", map[string]any{"output_index": 0, "item": map[string]any{"id": "msg_" + id, "type": "message", "role": "assistant", "status": "in_progress", "content": []any{}}})
	ev("response.output_text.delta", map[string]any{"item_id": "msg_" + id, "output_index": 0, "content_index": 0, "delta": text})
	ev("response.output_item.done", map[string]any{"output_index": 0, "item": item})
	ev("response.completed", map[string]any{"response": map[string]any{"id": id, "object": "response", "status": "completed", "output": []any{item},
		"usage": map[string]any{"input_tokens": 10, "output_tokens": 5, "total_tokens": 15, "input_tokens_details": map[string]any{"cached_tokens": 0}, "output_tokens_details": map[string]any{"reasoning_tokens": 0}}}})
}

// codexImage lays out a build context with the real Codex CLI: its
// static binary on the base image.
func codexImage(t *testing.T, dir string) {
	t.Helper()
	bin := os.Getenv("BOTTLE_E2E_CODEX")
	if bin == "" {
		t.Fatal("BOTTLE_E2E_CODEX must name the Codex CLI's binary (hack/e2e.sh installs it from npm)")
	}
	os.MkdirAll(dir, 0o755)
	copyFile(t, bin, filepath.Join(dir, "codex"))
	os.WriteFile(filepath.Join(dir, "Containerfile"), []byte("FROM "+baseImage()+"\nCOPY codex /usr/local/bin/codex\nENV PATH=/usr/local/bin:/bin\n"), 0o644)
}

// upstream is a test server on the host's loopback that records what it receives.
type upstream struct {
	URL    string // https://127.0.0.1:PORT or http://...
	CAFile string // its CA, for the route's upstream_ca
	Port   string
	mu     sync.Mutex
	seen   []*http.Request
	bodies []string
	// next, when set, answers instead (it gets the body back).
	next http.Handler
	// discard has bodies counted, not kept (the upload floods).
	discard bool
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u.discard {
		n, _ := io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, r)
		u.bodies = append(u.bodies, fmt.Sprintf("%d bytes", n))
		u.mu.Unlock()
		fmt.Fprintf(w, "got %d bytes", n)
		return
	}
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, r)
	u.bodies = append(u.bodies, string(body))
	next := u.next
	u.mu.Unlock()
	if next != nil {
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		next.ServeHTTP(w, r)
		return
	}
	fmt.Fprintf(w, "hello from upstream %s", r.URL.Path)
}

func (u *upstream) requests() ([]*http.Request, []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.seen...), append([]string(nil), u.bodies...)
}

// newUpstream starts an upstream, HTTPS with its own CA when tlsOn.
func newUpstream(t *testing.T, tlsOn bool) *upstream { return newUpstreamOn(t, tlsOn, "127.0.0.1") }

// newUpstreamOn starts an upstream on one loopback address.
func newUpstreamOn(t *testing.T, tlsOn bool, ip string) *upstream {
	t.Helper()
	u := &upstream{}
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	_, u.Port, _ = net.SplitHostPort(ln.Addr().String())
	srv := &http.Server{Handler: u}
	scheme := "http"
	if tlsOn {
		scheme = "https"
		caPEM, cert := testCert(t)
		u.CAFile = filepath.Join(t.TempDir(), "upstream-ca.pem")
		os.WriteFile(u.CAFile, caPEM, 0o644)
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	u.URL = scheme + "://" + ln.Addr().String()
	return u
}

// kubeNodeIP is the test cluster's node inside its own network namespace
// (hack/kube-up.sh): the Kubernetes tests' upstreams listen there.
const kubeNodeIP = "10.231.0.1"

// testCert makes a CA and a leaf for 127.0.0.1 (and the test cluster's
// node) signed by it.
func testCert(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bottle e2e upstream CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(kubeNodeIP)}, DNSNames: []string{"api.example.test", "tunnel.example.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// probeBin is the scripted agent's binary (hack/e2e.sh builds it).
func probeBin(t *testing.T) string {
	t.Helper()
	probe := os.Getenv("BOTTLE_E2E_PROBE")
	if probe == "" {
		t.Fatal("BOTTLE_E2E_PROBE must name the probe binary (hack/e2e.sh builds it)")
	}
	return probe
}

// egressEnv is an env whose profile "p" runs the probe, with a route to an
// HTTPS upstream (credential injected) and one to a plain HTTP upstream.
type egressEnv struct {
	*env
	tls, plain *upstream
	secret     string
}

func newEgressEnv(t *testing.T, extra string) *egressEnv {
	t.Helper()
	probe := probeBin(t)
	secret := make([]byte, 12)
	rand.Read(secret)
	ee := &egressEnv{tls: newUpstream(t, true), plain: newUpstream(t, false), secret: "sk-e2e-" + hex.EncodeToString(secret)}
	ee.env = newEnv(t, fmt.Sprintf(`
[agents.p]
containerfile = "probeimg/Containerfile"
command = ["/bin/sh", "-c"]
memory = "256m"

[[agents.p.egress]]
host = "api.example.test"
ports = [443]
upstream = "%s"
upstream_ca = "%s"
[agents.p.egress.credential]
header = "x-api-key"
from_env = "BOTTLE_E2E_SECRET"
agent_env = "EXAMPLE_API_KEY"

[[agents.p.egress]]
host = "plain.example.test"
ports = [80]
upstream = "%s"

[[agents.p.egress]]
host = "tunnel.example.test"
ports = [443]
intercept = false
upstream = "%s"
%s`, ee.tls.URL, ee.tls.CAFile, ee.plain.URL, ee.tls.URL, extra))
	img := filepath.Join(ee.dir, "probeimg")
	os.MkdirAll(img, 0o755)
	data, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(img, "probe"), data, 0o755)
	os.WriteFile(filepath.Join(img, "Containerfile"), []byte("FROM "+baseImage()+"\nCOPY probe /bin/probe\n"), 0o644)
	ee.extraEnv = []string{"BOTTLE_E2E_SECRET=" + ee.secret}
	return ee
}

// probeLines runs a script in the bottle and returns its output lines.
func (ee *egressEnv) probeLines(profile, script string, extraArgs ...string) []string {
	ee.t.Helper()
	args := append([]string{"start", "--yes"}, extraArgs...)
	args = append(args, profile, "--", script)
	out, errs, code := ee.run(args...)
	if code != 0 {
		ee.t.Fatalf("bottle exited %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	return strings.Split(strings.TrimSpace(out), "\n")
}

// The attacks a prompt-injected agent would try, each of which must fail.
func egressAttacks(ee *egressEnv) string {
	return strings.Join([]string{
		"probe tcp 127.0.0.1:" + ee.tls.Port,            // the host's loopback service, directly
		"probe tcp [::1]:" + ee.tls.Port,                // IPv6 loopback
		"probe udp 127.0.0.1:53",                        // a datagram to a resolver
		"probe dns api.example.test",                    // any name lookup
		"probe noproxy https://api.example.test/",       // around the proxy
		"probe get http://[::1]:" + ee.plain.Port + "/", // an address through the proxy
		"probe unix /run/bottle/egress/gateway/gateway.sock",
		"probe read /run/bottle/egress/ca.key",
		"probe read /run/bottle/egress/secrets.json",
		// The supervise server shares the proxy's container: no request id
		// leads it out of its own folder.
		"probe mcp-status ../egress/secrets",
		"probe unix /run/podman/podman.sock",
		fmt.Sprintf("probe unix /run/user/%d/podman/podman.sock", os.Getuid()),
		"probe tcp 127.0.0.1:3128", // the proxy itself: the one thing that answers
	}, "; ")
}

func checkAttacks(t *testing.T, lines []string) {
	t.Helper()
	if len(lines) != 13 {
		t.Fatalf("%d result lines, want 13:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, l := range lines[:12] {
		if !strings.HasPrefix(l, "fail ") {
			t.Errorf("attack succeeded: %s", l)
		}
	}
	if !strings.Contains(lines[9], "no such request") {
		t.Errorf("the supervise server did not answer, so its refusal proves nothing: %s", lines[9])
	}
	if !strings.HasPrefix(lines[12], "ok tcp 127.0.0.1:3128") {
		t.Errorf("the proxy is not reachable, so the failures prove nothing: %s", lines[12])
	}
}

// geminiAPI stands in for the Gemini API on the host's loopback:
// generateContent (the CLI's model router asks it for a JSON choice) and
// streamGenerateContent (events of one short reply); it records the keys
// and bodies it was sent.
type geminiAPI struct {
	URL, CAFile string
	mu          sync.Mutex
	keys        []string
	bodies      []string
}

func newGeminiAPI(t *testing.T) *geminiAPI {
	t.Helper()
	api := &geminiAPI{}
	caPEM, cert := testCert(t)
	api.CAFile = filepath.Join(t.TempDir(), "api-ca.pem")
	os.WriteFile(api.CAFile, caPEM, 0o644)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	api.URL = "https://" + ln.Addr().String()
	return api
}

func (a *geminiAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.keys = append(a.keys, r.Header.Get("x-goog-api-key"))
	a.bodies = append(a.bodies, string(body))
	a.mu.Unlock()
	usage := map[string]int{"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
	reply := func(text string) map[string]any {
		return map[string]any{"candidates": []any{map[string]any{"content": map[string]any{"parts": []any{map[string]any{"text": text}}, "role": "model"},
			"finishReason": "STOP", "index": 0}}, "usageMetadata": usage, "modelVersion": "gemini-stand-in"}
	}
	switch {
	case strings.HasSuffix(r.URL.Path, ":streamGenerateContent"):
		w.Header().Set("Content-Type", "text/event-stream")
		b, _ := json.Marshal(reply("stand-in gemini reply"))
		fmt.Fprintf(w, "data: %s\r\n\r\n", b)
	case strings.HasSuffix(r.URL.Path, ":generateContent"):
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(reply(`{"reasoning":"short","model_choice":"flash","complexity_reasoning":"short","complexity_score":1}`))
	default:
		http.NotFound(w, r)
	}
}

// geminiImage lays out a build context with the real Gemini CLI: this
// machine's Node.js (with the C++ runtime it links) and the CLI's bundle.
func geminiImage(t *testing.T, dir string) {
	t.Helper()
	bundle := os.Getenv("BOTTLE_E2E_GEMINI")
	if bundle == "" {
		t.Fatal("BOTTLE_E2E_GEMINI must name the Gemini CLI's bundle folder (hack/e2e.sh installs it from npm)")
	}
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	cf := "FROM " + baseImage() + "\n"
	for _, lib := range []string{"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libdl.so.2",
		"/lib/x86_64-linux-gnu/libm.so.6", "/lib/x86_64-linux-gnu/libpthread.so.0", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libgcc_s.so.1"} {
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			t.Fatal(err)
		}
		copyFile(t, real, filepath.Join(dir, "lib", filepath.Base(lib)))
		cf += fmt.Sprintf("COPY lib/%s %s\n", filepath.Base(lib), lib)
	}
	node, err := filepath.EvalSymlinks("/usr/bin/node")
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, node, filepath.Join(dir, "node"))
	if err := os.CopyFS(filepath.Join(dir, "bundle"), os.DirFS(bundle)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "gemini"), []byte("#!/bin/sh\nexec /usr/local/bin/node /opt/gemini/bundle/gemini.js \"$@\"\n"), 0o755)
	cf += "COPY node /usr/local/bin/node\nCOPY bundle /opt/gemini/bundle\nCOPY gemini /usr/local/bin/gemini\nENV PATH=/usr/local/bin:/bin\n"
	os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(cf), 0o644)
}

// googleLogin stands in, on one loopback server, for what the Gemini CLI
// signed in with Google talks to: Google's token endpoint (a refresh grant
// with the real refresh token and the CLI's client gets a new access
// token), tokeninfo and userinfo (for the real current token only), and
// Code Assist (loadCodeAssist, the model's turns, anything else {}). It
// records each request's path and bearer.
type googleLogin struct {
	URL, CAFile string
	mu          sync.Mutex
	n           int
	grants      []url.Values
	calls       []string // "PATH BEARER"
}

func newGoogleLogin(t *testing.T) *googleLogin {
	t.Helper()
	g := &googleLogin{}
	caPEM, cert := testCert(t)
	g.CAFile = filepath.Join(t.TempDir(), "google-ca.pem")
	os.WriteFile(g.CAFile, caPEM, 0o644)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	g.URL = "https://" + ln.Addr().String()
	return g
}

func (g *googleLogin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	bearer := r.Header.Get("Authorization")
	g.calls = append(g.calls, r.URL.Path+" "+bearer)
	current := fmt.Sprintf("Bearer ya29.e2e-real-%d", g.n)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/token":
		v, _ := url.ParseQuery(string(body))
		g.grants = append(g.grants, v)
		if v.Get("grant_type") != "refresh_token" || v.Get("refresh_token") != "1//e2e-real-refresh" || v.Get("client_secret") == "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		g.n++
		fmt.Fprintf(w, `{"access_token":"ya29.e2e-real-%d","expires_in":3599,"scope":"https://www.googleapis.com/auth/cloud-platform","token_type":"Bearer"}`, g.n)
	case bearer != current:
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`)
	case r.URL.Path == "/tokeninfo":
		fmt.Fprint(w, `{"azp":"e2e","aud":"e2e","sub":"1","scope":"https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email","expires_in":3000,"email":"e2e@example.test","email_verified":"true","access_type":"offline"}`)
	case r.URL.Path == "/oauth2/v2/userinfo":
		fmt.Fprint(w, `{"id":"1","email":"e2e@example.test","verified_email":true}`)
	case strings.HasSuffix(r.URL.Path, ":loadCodeAssist"):
		fmt.Fprint(w, `{"currentTier":{"id":"free-tier","name":"Gemini Code Assist for individuals","hasOnboardedPreviously":true},"allowedTiers":[{"id":"free-tier","isDefault":true}],"cloudaicompanionProject":"e2e-project"}`)
	case strings.HasSuffix(r.URL.Path, ":streamGenerateContent"):
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"response":{"candidates":[{"content":{"parts":[{"text":"stand-in code assist reply"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15}}}`+"\r\n\r\n")
	case strings.HasSuffix(r.URL.Path, ":generateContent"):
		fmt.Fprint(w, `{"response":{"candidates":[{"content":{"parts":[{"text":"{\"reasoning\":\"short\",\"model_choice\":\"flash\"}"}],"role":"model"},"finishReason":"STOP","index":0}]}}`)
	default:
		fmt.Fprint(w, `{}`)
	}
}

// gitClientImage writes a Containerfile for an agent image with the host's
// git, its HTTP remote helper and every library they load.
func gitClientImage(t *testing.T, dir string) {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "files"), 0o755)
	cf := "FROM " + baseImage() + "\n"
	files := map[string]bool{"/usr/bin/git": true, "/usr/lib/git-core/git-remote-http": true}
	for _, bin := range []string{"/usr/bin/git", "/usr/lib/git-core/git-remote-http"} {
		out, err := exec.Command("ldd", bin).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", bin, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			for _, f := range strings.Fields(line) {
				if strings.HasPrefix(f, "/") {
					files[f] = true
				}
			}
		}
	}
	// In a stable order: the same Containerfile hashes to the same image, built once.
	i := 0
	for _, f := range slices.Sorted(maps.Keys(files)) {
		real, err := filepath.EvalSymlinks(f)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("f%d", i)
		i++
		copyFile(t, real, filepath.Join(dir, "files", name))
		cf += fmt.Sprintf("COPY files/%s %s\n", name, f)
	}
	cf += "RUN ln -s /usr/lib/git-core/git-remote-http /usr/lib/git-core/git-remote-https\nENV PATH=/usr/bin:/bin\n"
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostGit runs the host's git in dir.
func hostGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "safe.directory=*", "-c", "user.name=t", "-c", "user.email=t@t",
		"-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// upstreamRepo makes a bare repository with two commits on main.
func upstreamRepo(t *testing.T, path string) {
	t.Helper()
	seed := path + ".seed"
	hostGit(t, filepath.Dir(path), "init", "-q", seed)
	for _, f := range []string{"README", "main.go"} {
		os.WriteFile(filepath.Join(seed, f), []byte(f+"\n"), 0o644)
		hostGit(t, seed, "add", f)
		hostGit(t, seed, "commit", "-qm", "add "+f)
	}
	hostGit(t, filepath.Dir(path), "clone", "-q", "--bare", seed, path)
	hostGit(t, path, "config", "http.receivepack", "true")
}

// upstreamMoves adds a commit to the upstream's main after the workspace was
// made: only a fetch through the gate, from the upstream, can bring it.
func upstreamMoves(t *testing.T, up string) {
	t.Helper()
	seed := up + ".seed"
	os.WriteFile(filepath.Join(seed, "NEWS"), []byte("news\n"), 0o644)
	hostGit(t, seed, "add", "NEWS")
	hostGit(t, seed, "commit", "-qm", "upstream moved")
	hostGit(t, seed, "push", "-q", up, "main")
}

// workspaceOf makes e's working directory a clone-like repository whose
// remote name points at url, with the upstream's refs as its view of it
// (fetched from the bare path, so no network is needed).
func workspaceOf(t *testing.T, e *env, name, url, bare string) {
	t.Helper()
	hostGit(t, e.workdir, "init", "-q")
	hostGit(t, e.workdir, "remote", "add", name, url)
	hostGit(t, e.workdir, "fetch", "-q", bare, "+refs/heads/*:refs/remotes/"+name+"/*")
	hostGit(t, e.workdir, "symbolic-ref", "refs/remotes/"+name+"/HEAD", "refs/remotes/"+name+"/main")
	hostGit(t, e.workdir, "checkout", "-q", "-b", "main", name+"/main")
	if !rootless() {
		exec.Command("chown", "-R", "1000:1000", e.workdir).Run()
	}
}

// httpsGitServer serves bare repositories under root over smart HTTP with
// TLS on loopback, for the token alone (HTTP basic authentication password).
// It counts the requests that came with the token.
type httpsGitServer struct {
	url        string // https://127.0.0.1:port
	caFile     string
	authorized atomic.Int64
	refused    atomic.Int64
}

func newHTTPSGitServer(t *testing.T, root, token string) *httpsGitServer {
	t.Helper()
	s := &httpsGitServer{}
	backend := &cgi.Handler{Path: "/usr/lib/git-core/git-http-backend",
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, ok := r.BasicAuth(); !ok || pw != token {
			s.refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "token required", http.StatusUnauthorized)
			return
		}
		s.authorized.Add(1)
		backend.ServeHTTP(w, r)
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.url = srv.URL
	s.caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(s.caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// sshGitServer is Debian's sshd on a loopback port, for one key, as the
// user running the tests.
type sshGitServer struct {
	port       int
	user       string
	key        string // the client's private key file
	knownHosts string
}

func newSSHGitServer(t *testing.T) *sshGitServer {
	t.Helper()
	dir := t.TempDir()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s := &sshGitServer{user: u.Username, key: filepath.Join(dir, "client"), knownHosts: filepath.Join(dir, "known_hosts")}
	for _, k := range []string{"host", "client"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "client.pub"))
	os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	hostPub, _ := os.ReadFile(filepath.Join(dir, "host.pub"))
	os.WriteFile(s.knownHosts, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", s.port, hostPub)), 0o644)
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host
AuthorizedKeysFile %s/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile %s/sshd.pid
`, s.port, dir, dir, dir)
	os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o644)
	if !rootless() {
		os.MkdirAll("/run/sshd", 0o755)
	}
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	logf, _ := os.Create(filepath.Join(dir, "sshd.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	poll(t, 10*time.Second, "sshd to listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return s
}

const gitAgentConfig = `
[agents.git]
containerfile = "gitimg/Containerfile"
command = ["/bin/sh", "-c"]
`

// agentScript joins shell steps for the agent, each echoing a marker.
func agentScript(steps ...string) string {
	return strings.Join(append([]string{
		"cd /workspace",
		"git config --global user.name agent && git config --global user.email agent@bottle",
	}, steps...), "; ")
}

// keptIdentity is the one kept bottle of e.
func keptIdentity(t *testing.T, e *env) string {
	t.Helper()
	states := e.states()
	if len(states) != 1 {
		t.Fatalf("want one kept bottle, have %v", states)
	}
	return states[0]
}

// nestedWorkspace makes e's workspace a repository holding another at
// vendor/lib, as a vendored repository or a submodule's checkout is.
func nestedWorkspace(t *testing.T, e *env) string {
	t.Helper()
	gitWorkspace(t, e)
	lib := filepath.Join(e.workdir, "vendor", "lib")
	os.MkdirAll(lib, 0o755)
	hostGit(t, lib, "init", "-q")
	os.WriteFile(filepath.Join(lib, "lib.txt"), []byte("lib\n"), 0o644)
	hostGit(t, lib, "add", "lib.txt")
	hostGit(t, lib, "commit", "-qm", "lib")
	chownToOwner(t, e, e.workdir)
	return lib
}

// homeFilesConfig is a profile that writes a settings file into the
// agent's home at every start and signs in with the person's Google login.
const homeFilesConfig = `
[agents.hf]
image = "%IMAGE%"
command = ["/bin/sh", "-c"]
memory = "256m"
pids = 256
home_files = { ".gemini/settings.json" = '{"bottle": true}' }
signin = { agent = "gemini", use = "credentials" }

[[agents.hf.egress]]
host = "generativelanguage.googleapis.com"
ports = [443]
`

// personWithGoogleLogin gives e a home holding the person's Gemini login.
func personWithGoogleLogin(t *testing.T, e *env) (login string, content []byte) {
	t.Helper()
	home := filepath.Join(e.dir, "home")
	os.MkdirAll(filepath.Join(home, ".gemini"), 0o700)
	login = filepath.Join(home, ".gemini", "oauth_creds.json")
	content = []byte(`{"access_token":"ya29.REAL-ACCESS-5c1e","refresh_token":"1//REAL-REFRESH-9d2b","id_token":"a.b.c","token_type":"Bearer","expiry_date":4102444800000,"scope":"openid"}`)
	os.WriteFile(login, content, 0o600)
	e.extraEnv = append(e.extraEnv, "HOME="+home, "GEMINI_API_KEY=")
	return login, content
}

func ownerOf(fi os.FileInfo) uint32 { return fi.Sys().(*syscall.Stat_t).Uid }

// trustRepository names a repository in e's config (repositories, a key of
// the person's own file): a working directory's git metadata may lead there.
func (e *env) trustRepository(path string) {
	e.t.Helper()
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(e.config, append([]byte("repositories = [\""+path+"\"]\n"), cfg...), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var keep []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, "goroutine ") && !strings.HasPrefix(l, "runtime.") && !strings.HasPrefix(l, "github.com/") && !strings.HasPrefix(l, "main.") {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[:n]
	}
	return strings.Join(keep, "\n")
}

//go:embed testdata/a19swap/main.go
var a19swapSource []byte

// buildA19Swap builds the racing agent's helper (testdata/a19swap, the
// standard library only) as a static binary at dst.
func buildA19Swap(t *testing.T, dst string) {
	t.Helper()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "main.go"), a19swapSource, 0o644)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module a19swap\ngo 1.22\n"), 0o644)
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goBin, "build", "-o", dst, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=", "GOCACHE="+filepath.Join(src, "cache"), "HOME="+src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the helper: %v\n%s", err, out)
	}
	os.Chmod(dst, 0o755)
}

// owner is the uid:gid that owns e's working directory: the person whose
// git, editor and shell run there after the bottle.
func (e *env) owner() (uid, gid int) {
	if rootless() {
		return os.Getuid(), os.Getgid()
	}
	return 1000, 1000
}

// markDir is a folder outside the workspace, out of the agent's reach, where
// a planted command that ran on the host would leave its mark.
func (e *env) markDir() string {
	e.t.Helper()
	dir := filepath.Join(e.dir, "marks")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		e.t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	// The owner (uid 1000 under rootful tests) must reach it, and the workspace.
	for d := e.dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	return dir
}

// marks lists what planted commands left.
func (e *env) marks() []string {
	entries, _ := os.ReadDir(filepath.Join(e.dir, "marks"))
	var out []string
	for _, d := range entries {
		out = append(out, d.Name())
	}
	return out
}

// ownerGit runs the host's git as the workspace's owner, as the person would
// after the bottle: no -c safe.directory, no options of the test's, a home of
// its own. It returns git's output whatever its exit.
func (e *env) ownerGit(dir string, args ...string) string {
	e.t.Helper()
	home := filepath.Join(e.dir, "owner-home")
	os.MkdirAll(home, 0o777)
	os.Chmod(home, 0o777)
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"}
	if !rootless() {
		uid, gid := e.owner()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// gitWorkspace makes e's working directory a repository with one commit,
// owned by the owner.
func gitWorkspace(t *testing.T, e *env) {
	t.Helper()
	hostGit(t, e.workdir, "init", "-q")
	os.WriteFile(filepath.Join(e.workdir, "file"), []byte("one\n"), 0o644)
	hostGit(t, e.workdir, "add", "file")
	hostGit(t, e.workdir, "commit", "-qm", "first")
	chownToOwner(t, e, e.workdir)
}

func chownToOwner(t *testing.T, e *env, dir string) {
	t.Helper()
	if rootless() {
		return
	}
	uid, gid := e.owner()
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v: %s", dir, err, out)
	}
}

// plantFSMonitor is shell for the agent: a git config, at path, whose
// fsmonitor hook (run by any git status) leaves a mark named name on the host.
func plantFSMonitor(path, marks, name string) string {
	return `printf '[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tfsmonitor = "echo ran > ` + marks + `/` + name + `; false"\n' > ` + path
}

// plantBareFSMonitor is the same for a bare repository's shape: its own
// folder as the work tree, so a git status there runs the hook.
func plantBareFSMonitor(dir, marks, name string) string {
	return plantFSMonitor(dir+"/config", marks, name) + ` && printf '\tworktree = .\n' >> ` + dir + `/config`
}

// hostGitRunsNothing runs the owner's git status in each folder and fails
// when a planted command left a mark.
func hostGitRunsNothing(t *testing.T, e *env, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		out := e.ownerGit(d, "status")
		t.Logf("owner's git status in %s:\n%s", d, out)
	}
	if m := e.marks(); len(m) != 0 {
		t.Errorf("the owner's git on the host ran commands the agent planted: %v", m)
	}
}

func testReplaceGitFolder(t *testing.T, extra string) {
	e := newEnv(t, gitAgentBindConfig+extra)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	gitWorkspace(t, e)
	marks := e.markDir()
	out, errs, code := e.run("start", "--yes", "git", "--", strings.Join([]string{
		"cd /workspace",
		"(mv .git .git-old 2>&1 && echo renamed)",
		"git init -q . ; " + plantFSMonitor(".git/config", marks, "replaced"),
		"echo planted",
	}, "; "))
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try:\n%s", out)
	}
	hostGitRunsNothing(t, e, e.workdir)
}

const gitAgentBindConfig = `
[agents.git]
containerfile = "gitimg/Containerfile"
command = ["/bin/sh", "-c"]
`

// identityIn finds the bottle's identity in its preflight.
func identityIn(t *testing.T, preflight string) string {
	t.Helper()
	for _, line := range strings.Split(preflight, "\n") {
		if rest, ok := strings.CutPrefix(line, "bottle "); ok {
			if id, _, ok := strings.Cut(rest, " "); ok && strings.Contains(id, "-") {
				return id
			}
		}
	}
	t.Fatalf("no identity in:\n%s", preflight)
	return ""
}

// hits counts the requests a loopback server got: where a build's RUN
// step would send what it found.
type hits struct {
	url string
	n   atomic.Int64
}

func newHits(t *testing.T) *hits {
	h := &hits{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.n.Add(1)
		io.WriteString(w, "leaked\n")
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// listNets writes the network interfaces a RUN step has into /nets (from
// /proc: rootless, /sys is the host's).
const listNets = `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " > /nets`

// buildLeak is a Containerfile whose RUN step reaches for the network and
// records what it saw, for the agent to print.
func buildLeak(url string) string {
	return "FROM " + baseImage() + "\n" +
		"RUN (wget -q -T 3 -O - " + url + "/leak || echo no-network) > /leak; " + listNets + "\n"
}

// httpGitServer serves the bare repositories under root over plain smart
// HTTP on loopback, and counts the requests it gets.
type httpGitServer struct {
	url  string // http://127.0.0.1:port
	hits atomic.Int64
}

func newHTTPGitServer(t *testing.T, root string) *httpGitServer {
	t.Helper()
	s := &httpGitServer{}
	backend := &cgi.Handler{Path: "/usr/lib/git-core/git-http-backend",
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// allowBuildFrom lists images in the person's config's build_from: what
// an isolated build may start FROM besides its profile's own image.
func (e *env) allowBuildFrom(images ...string) {
	e.t.Helper()
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	line := fmt.Sprintf("build_from = [%q]\n", strings.Join(images, `", "`))
	if err := os.WriteFile(e.config, append([]byte(line), cfg...), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// privateImage builds an image of the person's own into their store, one
// no bottle was given: it holds a marker, as a private image would hold
// what the person built into it.
func privateImage(t *testing.T) (ref, marker string) {
	t.Helper()
	marker = fmt.Sprintf("PRIVATE-%d", time.Now().UnixNano())
	ref = "localhost/bottle-e2e-private:" + strings.ToLower(marker)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Containerfile"), []byte("FROM "+baseImage()+"\nRUN echo "+marker+" > /private\n"), 0o644)
	if out, err := exec.Command("podman", "build", "--pull=never", "--network=none", "-q", "-t", ref, dir).CombinedOutput(); err != nil {
		t.Fatalf("podman build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("podman", "rmi", "-f", ref).Run() })
	return ref, marker
}

// isolatedRefusal starts a working directory's profile whose Containerfile
// is cf: the start must refuse it, in one line naming the file's line, and
// leave nothing.
func isolatedRefusal(t *testing.T, e *env, cf, command, want string) (stdout string) {
	t.Helper()
	os.WriteFile(filepath.Join(e.workdir, "Containerfile"), []byte(cf), 0o644)
	os.WriteFile(filepath.Join(e.workdir, "bottle.toml"), []byte("[agents.repo]\nextends = \"t\"\ncontainerfile = \"Containerfile\"\ncommand = [\"/bin/sh\", \"-c\", "+fmt.Sprintf("%q", command)+"]\n"), 0o644)
	out, errs, code := e.run("start", "--yes", "repo")
	if code == 0 {
		t.Errorf("the isolated build was allowed:\n%s\n%s", out, errs)
	}
	line := strings.TrimSpace(errs)
	if !strings.Contains(line, filepath.Join(e.workdir, "Containerfile")+":"+want) || !strings.Contains(line, "not allowed in an isolated build") || strings.Count(line, "\n") != 0 {
		t.Errorf("the refusal should be one line naming %s:%s...:\n%s", "Containerfile", want, errs)
	}
	e.assertClean()
	return out
}

// lockedBuffer is a buffer a running command writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	bin, cfg := os.Getenv("BOTTLE_KUBECTL"), os.Getenv("BOTTLE_KUBECONFIG")
	if bin == "" || cfg == "" {
		t.Fatal("BOTTLE_KUBECTL and BOTTLE_KUBECONFIG must name kubectl and the test cluster (hack/e2e.sh sets them)")
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", cfg}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubeEnv is an env whose bottles go to the test cluster: images imported
// into its containerd (no registry), the agent on the base image with the
// probe in its workspace (a cluster bottle's workspace is a copy).
func kubeEnv(t *testing.T, extra string) *env {
	t.Helper()
	return kubeEnvIn(t, "default", extra)
}

// kubeEnvIn is kubeEnv with its bottles in namespace ns.
func kubeEnvIn(t *testing.T, ns, extra string) *env {
	t.Helper()
	return kubeEnvWith(t, `namespace = "`+ns+`"`, extra)
}

// kubeEnvWith is kubeEnv with more lines in its [kubernetes] table (its
// namespace among them).
func kubeEnvWith(t *testing.T, kube, extra string) *env {
	t.Helper()
	cfg := os.Getenv("BOTTLE_KUBECONFIG")
	if cfg == "" {
		t.Fatal("BOTTLE_KUBECONFIG must name the test cluster's kubeconfig (hack/e2e.sh sets it)")
	}
	e := newEnv(t, `
[kubernetes]
`+kube+`
import = ["ctr", "--address", "/run/containerd/containerd.sock", "-n", "k8s.io", "images", "import", "{archive}"]

[agents.k]
image = "`+baseImage()+`"
command = ["/bin/sh", "-c"]
memory = "256m"
engine = "kubernetes"

[agents.g]
extends = "k"
runtime = "runsc"
`+extra)
	e.extraEnv = append(e.extraEnv, "KUBECONFIG="+cfg)
	if probe := os.Getenv("BOTTLE_E2E_PROBE"); probe != "" {
		data, err := os.ReadFile(probe)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(e.workdir, "probe"), data, 0o755)
	}
	return e
}

// kubeClean checks nothing of e's bottles is left: no state, nothing on
// the cluster labelled as a bottle's.
func kubeClean(t *testing.T, e *env) {
	t.Helper()
	if s := e.states(); len(s) != 0 {
		t.Errorf("state left: %v", s)
	}
	if left := kubeLeftovers(t, ""); left != "" {
		t.Errorf("left on the cluster:\n%s", left)
	}
}

// kubeLeftovers are the objects on the cluster labelled with identity
// ("": with any).
func kubeLeftovers(t *testing.T, identity string) string {
	t.Helper()
	sel := spec.LabelIdentity
	if identity != "" {
		sel += "=" + identity
	}
	out, err := kubectl(t, "", "get", "pods,pvc,secrets,networkpolicies", "-A", "-l", sel, "-o", "name")
	if err != nil {
		t.Fatalf("kubectl: %v: %s", err, out)
	}
	return strings.TrimSpace(out)
}

// manifestPolicy is the NetworkPolicy of bottle kube manifest's output.
func manifestPolicy(t *testing.T, manifest string) netv1.NetworkPolicy {
	t.Helper()
	for _, doc := range strings.Split(manifest, "\n---\n") {
		if strings.Contains(doc, "kind: NetworkPolicy") {
			var p netv1.NetworkPolicy
			if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Fatalf("no NetworkPolicy in the manifest:\n%s", manifest)
	return netv1.NetworkPolicy{}
}

// bottlePolicy is the NetworkPolicy a bottle has on the cluster.
func bottlePolicy(t *testing.T, id string) netv1.NetworkPolicy {
	t.Helper()
	out, err := kubectl(t, "", "get", "networkpolicy", "bottle-"+id, "-o", "json")
	if err != nil {
		t.Fatalf("kubectl: %v: %s", err, out)
	}
	var p netv1.NetworkPolicy
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// takeOutIsolation undoes, from the node, what the bottle's isolate init
// container did in its pod's network namespace: the agent's own
// connections then meet only the cluster's NetworkPolicy.
func takeOutIsolation(t *testing.T, id string) {
	t.Helper()
	ip, err := kubectl(t, "", "get", "pod", "bottle-"+id, "-o", "jsonpath={.status.podIP}")
	if err != nil || net.ParseIP(ip) == nil {
		t.Fatalf("the pod's address: %q %v", ip, err)
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cni-") {
			continue
		}
		addrs, _ := exec.Command("ip", "-n", f[0], "-4", "-o", "addr", "show").Output()
		if !strings.Contains(string(addrs), " "+ip+"/") {
			continue
		}
		for _, rule := range [][]string{{"-P", "OUTPUT", "ACCEPT"}, {"-F", "OUTPUT"}} {
			if out, err := exec.Command("ip", append([]string{"netns", "exec", f[0], "iptables-legacy", "-w"}, rule...)...).CombinedOutput(); err != nil {
				t.Fatalf("take out the pod's isolation: %v: %s", err, out)
			}
		}
		return
	}
	t.Fatalf("no network namespace holds the pod's address %s", ip)
}

// egressCalls is what a bottle's egress audit says of each request: its
// decision, method, host and path, and the reason, a line each.
func egressCalls(t *testing.T, e *env, id string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(e.rootDir(), id, "egress", "audit.jsonl"))
	if err != nil {
		t.Fatalf("the egress audit: %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var en struct{ Decision, Method, Host, Path, Reason string }
		// A stream's second line, its size once it ended, is no call of its own.
		if json.Unmarshal(sc.Bytes(), &en) == nil && en.Decision != "received" {
			out = append(out, en.Decision+" "+en.Method+" "+en.Host+" "+en.Path+" ("+en.Reason+")")
		}
	}
	return out
}

// outsideCalls are requests a signed-in agent's CLI never makes, each
// "METHOD URL" (GET or POST), made from inside the bottle after the CLI's
// turn by the wrapper watchProcesses puts in (issue 20); by agent, and
// how it signs in when that changes them.
var outsideCalls = map[string][]string{
	// Signed in with a long-lived token, Claude Code has no token endpoint.
	"claude-token": {"POST https://api.anthropic.com/api/oauth/claude_cli/create_api_key", "GET https://api.anthropic.com/v1/files"},
	"claude": {"POST https://api.anthropic.com/api/oauth/claude_cli/create_api_key", "GET https://api.anthropic.com/v1/files",
		"POST https://platform.claude.com/v1/oauth/token/"},
	"codex": {"GET https://chatgpt.com/backend-api/conversations", "POST https://chatgpt.com/backend-api/wham/tasks",
		"POST https://auth.openai.com/oauth/token/"},
	"gemini": {"GET https://www.googleapis.com/storage/v1/b?project=p", "POST https://cloudcode-pa.googleapis.com/v1/projects/p:run",
		"POST https://oauth2.googleapis.com/token/"},
}

// outsideScript is the shell lines that make an agent's outside calls with
// the probe, appending what each got to /workspace/.bottle-outside.
func outsideScript(agent string) string {
	var b strings.Builder
	for _, c := range outsideCalls[agent] {
		method, u, _ := strings.Cut(c, " ")
		if method == "POST" {
			b.WriteString("/bin/probe post '" + u + "' '{}' 'Authorization: Bearer placeholder' >> /workspace/.bottle-outside 2>&1\n")
		} else {
			b.WriteString("/bin/probe get '" + u + "' 'Authorization: Bearer placeholder' >> /workspace/.bottle-outside 2>&1\n")
		}
	}
	return b.String()
}

// assertSigninNarrowed checks a signed-in bottle's run (issue 20; agent
// names its outside calls): every
// call the agent's CLI made on the sign-in's hosts was carried, but those
// in refusedToo; each outside call was refused with a 403 that names its
// host, method and path; seen is every path the stand-ins were sent, and
// holds none of the outside calls.
func assertSigninNarrowed(t *testing.T, e *env, id, agent string, hosts, refusedToo, seen []string) {
	t.Helper()
	calls := egressCalls(t, e, id)
	for _, c := range calls {
		t.Logf("egress: %s", c)
	}
	outside := func(c string) bool {
		return slices.ContainsFunc(outsideCalls[agent], func(o string) bool {
			method, raw, _ := strings.Cut(o, " ")
			u, _ := url.Parse(raw)
			return strings.HasPrefix(c, "deny "+method+" "+u.Hostname()+" ")
		})
	}
	for _, c := range calls {
		f := strings.Fields(c)
		if f[0] != "allow" && slices.Contains(hosts, f[2]) && !outside(c) && !slices.ContainsFunc(refusedToo, func(r string) bool { return strings.HasPrefix(c, "deny "+r+" ") }) {
			t.Errorf("the agent's CLI made a call its sign-in does not carry: %s", c)
		}
	}
	data, err := os.ReadFile(filepath.Join(e.workdir, ".bottle-outside"))
	if err != nil {
		t.Fatalf("the outside calls were not made: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != len(outsideCalls[agent]) {
		t.Fatalf("outside calls: %q", lines)
	}
	for i, o := range outsideCalls[agent] {
		method, raw, _ := strings.Cut(o, " ")
		u, _ := url.Parse(raw)
		if !strings.HasPrefix(lines[i], "fail ") || !strings.Contains(lines[i], "status 403") || !strings.Contains(lines[i], method+" "+u.Path+" on "+u.Hostname()) {
			t.Errorf("%s from inside the bottle: %s; want a 403 naming its host, method and path", o, lines[i])
		}
		if strings.Contains(lines[i], "e2e-real") || strings.Contains(lines[i], "long-lived") {
			t.Errorf("%s: the refusal holds a token: %s", o, lines[i])
		}
		for _, s := range seen {
			if slices.Contains(strings.Fields(s), u.Path) {
				t.Errorf("%s reached the stand-in: %s", o, s)
			}
		}
	}
}

// waitRequest polls bottle requests until a pending one appears, and returns
// its bottle and id.
func (ee *egressEnv) waitRequest(t *testing.T, kind string) (string, string) {
	t.Helper()
	var id, req string
	poll(t, 60*time.Second, "a pending "+kind+" request", func() bool {
		out, _, code := ee.run("requests", "--json")
		if code != 0 {
			return false
		}
		var rs []struct {
			Identity string `json:"identity"`
			ID       string `json:"id"`
			Kind     string `json:"kind"`
		}
		json.Unmarshal([]byte(out), &rs)
		for _, r := range rs {
			if r.Kind == kind {
				id, req = r.Identity, r.ID
				return true
			}
		}
		return false
	})
	return id, req
}

func startBackground(t *testing.T, cmd *exec.Cmd) *strings.Builder {
	t.Helper()
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &out
}

// gitImage lays out a build context for an image with the host's git and the
// libraries it links.
func gitImage(t *testing.T, dir string) {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	cf := "FROM " + baseImage() + "\n"
	for _, f := range []string{"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libpcre2-8.so.0",
		"/lib/x86_64-linux-gnu/libz.so.1", "/usr/bin/git"} {
		real, err := filepath.EvalSymlinks(f)
		if err != nil {
			t.Fatal(err)
		}
		copyFile(t, real, filepath.Join(dir, "lib", filepath.Base(f)))
		cf += fmt.Sprintf("COPY lib/%s %s\n", filepath.Base(f), f)
	}
	cf += "ENV PATH=/usr/bin:/bin\n"
	os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(cf), 0o644)
}

// startDetached starts a detached bottle of profile t whose agent runs
// script, and waits for it to have said "started".
func (e *env) startDetached(script string) string {
	e.t.Helper()
	id := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c", "echo started; "+script))
	poll(e.t, 30*time.Second, "the agent's output", func() bool {
		out, _, _ := e.run("logs", id)
		return out == "started\n"
	})
	return id
}

// agentExitCode is the exit code Podman recorded for a bottle's agent.
func agentExitCode(t *testing.T, id string) string {
	t.Helper()
	out, err := exec.Command("podman", "inspect", "--format", "{{.State.ExitCode}}", spec.ContainerName(id, agent.Service)).CombinedOutput()
	if err != nil {
		t.Fatalf("podman inspect the agent of %s: %v\n%s", id, err, out)
	}
	return strings.TrimSpace(string(out))
}

// headers are the values of one header of each request.
func headers(reqs []*http.Request, name string) []string {
	var vs []string
	for _, r := range reqs {
		vs = append(vs, r.Header.Get(name))
	}
	return vs
}

// lsRows is bottle ls --json.
func (e *env) lsRows() []lifecycle.Row {
	e.t.Helper()
	var rows []lifecycle.Row
	if err := json.Unmarshal([]byte(e.mustRun("ls", "--json")), &rows); err != nil {
		e.t.Fatalf("bottle ls --json: %v", err)
	}
	return rows
}

// warmBottles are the identities of e's warm bottles ready to be claimed.
func (e *env) warmBottles() []string {
	e.t.Helper()
	var ids []string
	for _, r := range e.lsRows() {
		if r.Warm && r.Status == lifecycle.StatusWarm {
			ids = append(ids, r.Identity)
		}
	}
	return ids
}

// awaitWarm waits for the keeper a start ran in the background to have
// made a warm bottle other than those in not, and returns it.
func (e *env) awaitWarm(not ...string) string {
	e.t.Helper()
	var id string
	poll(e.t, 2*time.Minute, "a warm bottle made by the keeper", func() bool {
		for _, w := range e.warmBottles() {
			if !slices.Contains(not, w) {
				id = w
				return true
			}
		}
		return false
	})
	return id
}

// plannedOf finds, in a bottle start --debug's stderr, the plan it made.
func plannedOf(t *testing.T, stderr string) (plan string, warm bool) {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.Contains(line, "msg=planned") {
			continue
		}
		_, q, ok := strings.Cut(line, " plan=")
		if !ok {
			break
		}
		p, err := strconv.Unquote(q)
		if err != nil {
			t.Fatalf("the planned line's plan: %v: %s", err, q)
		}
		return p, strings.Contains(line, " warm=true ")
	}
	t.Fatalf("no plan in bottle start --debug's output:\n%s", stderr)
	return "", false
}

// inspectBottle is what the engine reports of a bottle's pod and of each
// of its containers (by service), as flattened JSON lines (path=value),
// with the identity, the engine's ids and what only says when or under
// which random name (times, process ids, lock numbers, the network
// namespace's file) made neutral.
func inspectBottle(t *testing.T, id string) map[string][]string {
	t.Helper()
	out, err := exec.Command("podman", "ps", "-a", "--filter", "label="+spec.LabelIdentity+"="+id, "--format", "{{.ID}} {{.Names}}").Output()
	if err != nil {
		t.Fatalf("podman ps: %v", err)
	}
	names := map[string]string{} // service by container name
	var args []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		_, name, _ := strings.Cut(line, " ")
		service, ok := spec.ServiceOf(id, name)
		if !ok {
			t.Fatalf("container %s is not one of bottle %s's", name, id)
		}
		names[name] = service
		args = append(args, name)
	}
	raw := map[string][]byte{}
	data, err := exec.Command("podman", append([]string{"container", "inspect"}, args...)...).Output()
	if err != nil {
		t.Fatalf("podman container inspect: %v", err)
	}
	var cs []map[string]any
	json.Unmarshal(data, &cs)
	var ids []string
	mounts := map[string]string{}
	for _, c := range cs {
		one, _ := json.Marshal(c)
		service := names[c["Name"].(string)]
		raw[service] = one
		ids = append(ids, c["Id"].(string))
		if st, ok := c["State"].(map[string]any); ok && st["Running"] == true {
			mounts[service] = mountsOf(t, int(st["Pid"].(float64)))
		}
	}
	pod, err := exec.Command("podman", "pod", "inspect", spec.PodName(id)).Output()
	if err != nil {
		t.Fatalf("podman pod inspect: %v", err)
	}
	raw["(pod)"] = pod
	var p map[string]any
	json.Unmarshal(pod, &p)
	if pid, ok := p["Id"].(string); ok {
		ids = append(ids, pid)
	}
	flat := map[string][]string{}
	for what, data := range raw {
		s := string(data)
		for _, long := range ids {
			s = strings.ReplaceAll(s, long, "ENGINE-ID")
			s = strings.ReplaceAll(s, long[:12], "ENGINE-ID")
		}
		s = strings.ReplaceAll(s, id, "IDENTITY")
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("inspect of %s: %v", what, err)
		}
		flat[what] = flatten("", v, inspectNoise)
	}
	for service, m := range mounts {
		for _, long := range ids {
			m = strings.ReplaceAll(m, long, "ENGINE-ID")
		}
		flat[service+" (its mounts, as the kernel has them)"] = strings.Split(strings.ReplaceAll(m, id, "IDENTITY"), "\n")
	}
	return flat
}

// mountsOf is what is mounted where in a running container's process pid,
// as the kernel has it (a mount the engine made can be dropped since: a
// file mounted alone goes when the host puts another file in its place),
// one line each: the mount point, the folder or file mounted there, its
// options and its file system's type.
func mountsOf(t *testing.T, pid int) string {
	t.Helper()
	path := fmt.Sprintf("/proc/%d/mountinfo", pid)
	data, err := os.ReadFile(path)
	if err != nil && rootless() {
		data, err = exec.Command("podman", "unshare", "cat", path).Output()
	}
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 6 || sep < 0 || sep+1 >= len(f) {
			t.Fatalf("%s: a line not as mountinfo writes them: %q", path, line)
		}
		root := f[3]
		if f[4] == "/" { // overlay, or a vfs folder (rootless here): a layer's random name
			root = "(the container's layers)"
		}
		out = append(out, strings.Join([]string{f[4], root, f[5], f[sep+1]}, " "))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// inspectNoise are the keys of an inspect that say when, or under which
// random name, not what.
var inspectNoise = map[string]bool{"Created": true, "StartedAt": true, "FinishedAt": true, "CheckpointedAt": true, "RestoredAt": true,
	"Pid": true, "ConmonPid": true, "LockNumber": true, "SandboxKey": true, "SandboxID": true, "io.kubernetes.cri-o.Created": true,
	// the storage's own random names of a container's layer
	"MergedDir": true, "UpperDir": true, "WorkDir": true}

// timestamps are times as files and logs write them.
var timestamps = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)

// flatten writes v as sorted path=value lines, leaving out keys in drop.
func flatten(path string, v any, drop map[string]bool) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if !drop[k] {
				out = append(out, flatten(path+"."+k, e, drop)...)
			}
		}
	case []any:
		if strings.HasSuffix(path, ".Env") || path == ".Containers" {
			// An environment, a pod's containers, are sets: the engine
			// keeps no order of them.
			slices.SortFunc(x, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		}
		for i, e := range x {
			out = append(out, flatten(fmt.Sprintf("%s[%d]", path, i), e, drop)...)
		}
	default:
		b, _ := json.Marshal(x)
		out = append(out, path+"="+string(b))
	}
	sort.Strings(out)
	return out
}

// stateFiles describes every file in a bottle's folder, as one line each:
// its path, type, mode and owner, and its content's hash but for files
// whose content is random by nature (random lists them, by path below
// the folder); the identity and times made neutral, in paths and contents.
func stateFiles(t *testing.T, dir, id string, random map[string]bool) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %s %d:%d", strings.ReplaceAll(rel, id, "IDENTITY"), fi.Mode(), st.Uid, st.Gid)
		if fi.Mode().IsRegular() && !random[rel] {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256([]byte(timestamps.ReplaceAllString(strings.ReplaceAll(string(data), id, "IDENTITY"), "TIME")))
			line += " " + hex.EncodeToString(sum[:8])
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return out
}

// differences lists the lines one of a and b has and the other not.
func differences(a, b []string) []string {
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			out = append(out, "+ "+l)
		}
	}
	return out
}
