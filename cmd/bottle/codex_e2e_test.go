//go:build e2e

package main

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

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

// TestRealCodexThroughTheProxy: the real Codex CLI from npm, in the
// built-in codex profile's form, does one turn against a stand-in
// Responses API with the key injected: the stand-in sees the real key,
// the agent held a placeholder.
func TestRealCodexThroughTheProxy(t *testing.T) {
	api := newResponsesAPI(t)
	key := make([]byte, 16)
	rand.Read(key)
	secret := "sk-proj-e2e-" + hex.EncodeToString(key)
	e := newEnv(t, fmt.Sprintf(`
[agents.cx]
extends = "codex"
containerfile = "cximg/Containerfile"
memory = "1g"
replace_egress = true
[[agents.cx.egress]]
host = "api.openai.com"
ports = [443]
upstream = "%s"
upstream_ca = "%s"
[agents.cx.egress.credential]
header = "authorization"
value = "Bearer {secret}"
from_env = "OPENAI_API_KEY"
agent_env = "OPENAI_API_KEY"
`, api.URL, api.CAFile))
	codexImage(t, filepath.Join(e.dir, "cximg"))
	e.extraEnv = []string{"OPENAI_API_KEY=" + secret}
	out, errs, code := e.run("start", "--yes", "cx", "--", "exec", "--skip-git-repo-check", "say hello")
	if code != 0 || !strings.Contains(out, "stand-in codex reply number 1") {
		t.Fatalf("codex exec in a bottle: code %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.bearers) == 0 || api.bearers[0] != "Bearer "+secret {
		t.Errorf("the stand-in saw %q, want the injected key", api.bearers)
	}
	if strings.Contains(out+errs, secret) {
		t.Error("the key reached the agent's output")
	}
	// The profile registers the supervise server: the model is told of it.
	// (Codex lists an MCP server's tools as a deferred namespace.)
	if !strings.Contains(api.inputs[0], "mcp__bottle") {
		t.Errorf("the model was not offered the supervise tools:\n%.1500s", api.inputs[0])
	}
	e.assertClean()
}

// TestRealCodexSignedInWithChatGPT: the real Codex CLI, signed in with
// ChatGPT on the host (~/.codex/auth.json, its access token run out),
// works in a bottle that never holds the login (issue 12): the agent's
// auth.json has placeholders (Codex takes itself to be signed in, and
// refreshes when ChatGPT's backend says 401), the gateway refreshes with the host's real refresh token and
// writes the rotated tokens back to the host's file, ChatGPT's backend (a stand-in) gets the fresh real access
// token; no real token is anywhere the agent can read. Codex's own refresh,
// the token fresh, is answered from it; what Codex does not call on
// ChatGPT is refused (issue 20).
func TestRealCodexSignedInWithChatGPT(t *testing.T) {
	api := newResponsesAPI(t)
	api.tokens = &chatgptTokens{}
	api.reject = 2
	e := newEnv(t, fmt.Sprintf(`
[agents.cx]
extends = "codex"
containerfile = "cximg/Containerfile"
memory = "1g"
[[agents.cx.egress]]
host = "chatgpt.com"
ports = [443]
upstream = "%s"
upstream_ca = "%s"
[[agents.cx.egress]]
host = "auth.openai.com"
ports = [443]
upstream = "%s"
upstream_ca = "%s"
`, api.URL, api.CAFile, api.URL, api.CAFile))
	codexImage(t, filepath.Join(e.dir, "cximg"))
	watchProcesses(t, filepath.Join(e.dir, "cximg"), "/usr/local/bin/codex", "codex")
	home := filepath.Join(e.dir, "home")
	os.MkdirAll(filepath.Join(home, ".codex"), 0o700)
	hostFile := filepath.Join(home, ".codex", "auth.json")
	old := time.Now().Add(-time.Hour)
	os.WriteFile(hostFile, []byte(fmt.Sprintf(`{"OPENAI_API_KEY":null,"tokens":{"id_token":%q,"access_token":%q,"refresh_token":"rt-e2e-real-0","account_id":"acct-e2e"},"last_refresh":%q}`,
		chatgptJWT("e2e-real-id-0", old), chatgptJWT("e2e-real-access-0", old), old.UTC().Format(time.RFC3339))), 0o600)
	e.extraEnv = []string{"HOME=" + home}

	pre := e.mustRun("start", "--dry-run", "cx")
	if !strings.Contains(pre, "signin     codex: credentials from file "+hostFile) || strings.Contains(pre, "e2e-real") {
		t.Errorf("the preflight should say the sign-in and where from, never the value:\n%s", pre)
	}
	out, errs, code := e.run("start", "--yes", "--keep", "cx", "--", "exec", "--skip-git-repo-check", "say hello")
	if code != 0 || !strings.Contains(out, "stand-in codex reply number 1") {
		t.Fatalf("codex exec signed in with ChatGPT: code %d\nstdout: %s\nstderr: %s\nrequests: %q", code, out, errs, api.paths)
	}
	m := regexp.MustCompile(`bottle resume (cx-[0-9a-z]{5})`).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("no resume hint: %s", errs)
	}
	api.mu.Lock()
	bearers, accounts := append([]string(nil), api.bearers...), append([]string(nil), api.accounts...)
	api.mu.Unlock()
	api.tokens.mu.Lock()
	grants, issued := api.tokens.grants, api.tokens.n
	api.tokens.mu.Unlock()
	if len(grants) == 0 || grants[0]["refresh_token"] != "rt-e2e-real-0" {
		t.Errorf("the token endpoint was sent %v, want the host's real refresh token first", grants)
	}
	// The gateway refreshed for its own use (the host's token had run
	// out); when Codex, told 401, asked again, the token had its hour
	// left: answered from it, with placeholders, the token endpoint not
	// asked (issue 20).
	if len(grants) != 1 {
		t.Errorf("the token endpoint saw %d grants, want the gateway's one; requests %q", len(grants), api.paths)
	}
	asked := 0
	for _, c := range egressCalls(t, e, m[1]) {
		if strings.HasPrefix(c, "allow POST auth.openai.com /oauth/token ") {
			asked++
		}
	}
	if asked == 0 {
		t.Error("Codex never asked to refresh (told 401, it should have)")
	}
	for _, g := range grants {
		if strings.Contains(g["refresh_token"], "placeholder") {
			t.Errorf("the agent's placeholder reached the token endpoint: %v", g)
		}
	}
	latest := fmt.Sprintf("e2e-real-access-%d", issued)
	if len(bearers) == 0 || !strings.HasSuffix(bearers[len(bearers)-1], "."+latest) || accounts[0] != "acct-e2e" {
		t.Errorf("ChatGPT's backend saw %q (accounts %q), want the fresh real token %s", bearers, accounts, latest)
	}
	data, _ := os.ReadFile(hostFile)
	if !strings.Contains(string(data), fmt.Sprintf("rt-e2e-real-%d", issued)) || !strings.Contains(string(data), latest) {
		t.Errorf("the host's file does not hold the rotated tokens:\n%s", data)
	}
	agentFile, err := os.ReadFile(filepath.Join(e.rootDir(), m[1], "agent", "home", ".codex", "auth.json"))
	if err != nil || !strings.Contains(string(agentFile), "bottle-placeholder") {
		t.Errorf("the agent's auth.json: %v\n%s", err, agentFile)
	}
	filepath.Walk(filepath.Join(e.rootDir(), m[1], "agent"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Size() < 64<<20 {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "e2e-real") {
				t.Errorf("a real token is in %s, which the agent can read", p)
			}
		}
		return nil
	})
	if strings.Contains(out+errs, "e2e-real") {
		t.Error("a real token reached the agent's output")
	}
	api.mu.Lock()
	seen := append([]string(nil), api.paths...)
	api.mu.Unlock()
	// ChatGPT's apps (the person's connected services) are not carried:
	// Codex lists them, and does its turn without.
	assertSigninNarrowed(t, e, m[1], "codex", []string{"chatgpt.com", "auth.openai.com"}, []string{"POST chatgpt.com /backend-api/ps/mcp"}, seen)
	assertProcessesClean(t, e.workdir, "/usr/local/bin/codex-real", "HOME=/home/bottle", "e2e-real")
	e.mustRun("rm", m[1])
	e.assertClean()
}
