package egress

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/signin"
)

// standInLogin is every host a sign-in talks to, on one server: it
// records each request (method, path, bearer, body) and answers a refresh
// grant at any token path with new tokens expiresIn long.
type standInLogin struct {
	mu        sync.Mutex
	calls     []string // "METHOD PATH BEARER"
	grants    []map[string]string
	n         int
	expiresIn int
}

func (s *standInLogin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
	if strings.Contains(string(body), "refresh_token") {
		g := map[string]string{}
		if json.Unmarshal(body, &g) != nil {
			v, _ := url.ParseQuery(string(body))
			for k := range v {
				g[k] = v.Get(k)
			}
		}
		s.grants = append(s.grants, g)
		s.n++
		json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("sk-ant-oat01-real-%d", s.n), "refresh_token": fmt.Sprintf("sk-ant-ort01-real-%d", s.n),
			"expires_in": s.expiresIn, "token_type": "Bearer", "scope": g["scope"], "account": map[string]string{"uuid": "u1"}, "organization": map[string]string{"uuid": "o1"}})
		return
	}
	fmt.Fprint(w, `{}`)
}

func (s *standInLogin) seen() ([]string, []map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...), append([]map[string]string(nil), s.grants...)
}

// loginFiles are host login files, fresh for an hour, by agent.
func loginFiles(exp time.Time) map[string]string {
	jwt := func(sig string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"exp":%d,"https://api.openai.com/auth":{"chatgpt_account_id":"a"}}`, exp.Unix())) + "." + sig
	}
	return map[string]string{
		"claude": fmt.Sprintf(`{"claudeAiOauth":{"accessToken":"sk-ant-oat01-real-0","refreshToken":"sk-ant-ort01-real-0","expiresAt":%d,"scopes":["user:inference","user:profile","user:sessions:claude_code"],"subscriptionType":"max"}}`, exp.UnixMilli()),
		"codex":  fmt.Sprintf(`{"tokens":{"id_token":%q,"access_token":%q,"refresh_token":"rt-real-0","account_id":"a"}}`, jwt("realid0"), jwt("realaccess0")),
		"gemini": fmt.Sprintf(`{"access_token":"ya29.real-0","refresh_token":"1//real-refresh","scope":"https://www.googleapis.com/auth/cloud-platform","token_type":"Bearer","expiry_date":%d}`, exp.UnixMilli()),
	}
}

// signedIn is a bottle's egress signed in as agent with the host's login
// file content, every one of the scheme's hosts routed to up, its routes
// made as a launch makes them (signin.Apply).
func signedIn(t *testing.T, agent, file string, up *httptest.Server) (*http.Client, *Gateway, string) {
	t.Helper()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}), 0o644)
	sc := signin.Schemes[agent]
	home := t.TempDir()
	hostFile := filepath.Join(home, sc.CredentialsFile)
	os.MkdirAll(filepath.Dir(hostFile), 0o700)
	os.WriteFile(hostFile, []byte(file), 0o600)
	a := &config.Agent{Name: agent, Profile: config.Profile{Signin: &config.Signin{Agent: agent, Use: signin.UseCredentials}}}
	for _, h := range append([]string{sc.APIHost, sc.TokenHost}, sc.LoginHosts...) {
		a.Egress = append(a.Egress, config.Route{Host: h, Ports: []int{443}, Upstream: up.URL, UpstreamCA: caFile})
	}
	applied, _, err := signin.Apply(a, signin.Host{Getenv: func(string) string { return "" }, Home: home})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	eg := filepath.Join(dir, "egress")
	os.MkdirAll(filepath.Join(dir, "agent"), 0o700)
	if _, err := Prepare(context.Background(), "signin", eg, "", filepath.Join(dir, "agent"), applied.Egress, nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	gw, err := NewGateway(eg)
	if err != nil {
		t.Fatal(err)
	}
	gw.signinFile = hostFile
	serveGateway(t, gw, eg)
	cp := &corpusProxy{dir: eg}
	caPEM, _ := os.ReadFile(filepath.Join(eg, CAFile))
	cp.roots = poolOf(caPEM)
	proxyURL, _ := url.Parse("http://" + cp.start(t))
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: tlsConfig(cp)}}, gw, hostFile
}

func send(t *testing.T, c *http.Client, method, rawURL, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, rawURL, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer placeholder")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// TestSigninRoutesCarryOnlyTheCLIsCalls: a sign-in's hosts carry the
// person's token for the calls the agent's own CLI makes there, and refuse
// every other request with a 403 that names the host, method and path,
// never the token; nothing of it reaches the upstream. The token endpoint
// is an exact path (issue 20).
func TestSigninRoutesCarryOnlyTheCLIsCalls(t *testing.T) {
	for _, tc := range []struct {
		agent   string
		allowed []string // METHOD URL: reaches the upstream with the real token
		refused []string // METHOD URL: refused, never reaching it
	}{
		{"claude",
			[]string{"POST https://api.anthropic.com/v1/messages?beta=true", "GET https://api.anthropic.com/api/oauth/profile"},
			[]string{"POST https://api.anthropic.com/api/oauth/claude_cli/create_api_key", "GET https://api.anthropic.com/v1/files", "DELETE https://api.anthropic.com/api/oauth/profile",
				"GET https://api.anthropic.com/v1/messages", "POST https://api.anthropic.com/v1/messages/batches",
				"POST https://platform.claude.com/v1/oauth/token/", "POST https://platform.claude.com/v1/oauth/token/.", "POST https://platform.claude.com/v1/oauth/token/x",
				"GET https://platform.claude.com/v1/oauth/token", "POST https://platform.claude.com/v1/oauth/authorize"}},
		{"codex",
			[]string{"POST https://chatgpt.com/backend-api/codex/responses", "GET https://chatgpt.com/backend-api/codex/models"},
			[]string{"GET https://chatgpt.com/backend-api/conversations", "GET https://chatgpt.com/backend-api/conversation/abc", "POST https://chatgpt.com/backend-api/wham/tasks",
				"GET https://chatgpt.com/backend-api/me", "POST https://auth.openai.com/oauth/token/", "GET https://auth.openai.com/oauth/authorize"}},
		{"gemini",
			[]string{"POST https://cloudcode-pa.googleapis.com/v1internal:streamGenerateContent?alt=sse", "GET https://www.googleapis.com/oauth2/v2/userinfo"},
			[]string{"GET https://www.googleapis.com/storage/v1/b?project=p", "GET https://www.googleapis.com/drive/v3/files", "POST https://www.googleapis.com/compute/v1/projects/p/zones/z/instances",
				"POST https://cloudcode-pa.googleapis.com/v1/projects/p:doSomething", "DELETE https://cloudcode-pa.googleapis.com/v1internal:loadCodeAssist",
				"POST https://cloudcode-pa.googleapis.com/v1internal:setCodeAssistGlobalUserSetting",
				"POST https://oauth2.googleapis.com/token/", "POST https://oauth2.googleapis.com/revoke"}},
	} {
		t.Run(tc.agent, func(t *testing.T) {
			up := &standInLogin{expiresIn: 3600}
			srv := httptest.NewTLSServer(up)
			defer srv.Close()
			c, _, _ := signedIn(t, tc.agent, loginFiles(time.Now().Add(time.Hour))[tc.agent], srv)
			for _, call := range tc.allowed {
				method, u, _ := strings.Cut(call, " ")
				if code, body := send(t, c, method, u, `{}`); code != http.StatusOK {
					t.Errorf("%s: %d %s, want it carried", call, code, body)
				}
			}
			calls, _ := up.seen()
			if len(calls) != len(tc.allowed) {
				t.Fatalf("the upstream saw %q, want the %d allowed calls", calls, len(tc.allowed))
			}
			for _, c := range calls {
				if strings.Contains(c, "placeholder") || !strings.Contains(c, "real") {
					t.Errorf("the upstream saw %q, want the real token", c)
				}
			}
			for _, call := range tc.refused {
				method, raw, _ := strings.Cut(call, " ")
				code, body := send(t, c, method, raw, `{"grant_type":"refresh_token","refresh_token":"placeholder"}`)
				u, _ := url.Parse(raw)
				if code != http.StatusForbidden || !strings.Contains(body, u.Hostname()) || !strings.Contains(body, method) || !strings.Contains(body, strings.TrimSuffix(u.Path, ".")) {
					t.Errorf("%s: %d %s; want 403 naming the host, method and path", call, code, body)
				}
				if strings.Contains(body, "real") {
					t.Errorf("%s: the refusal holds the token: %s", call, body)
				}
			}
			if calls, _ := up.seen(); len(calls) != len(tc.allowed) {
				t.Errorf("a refused call reached the upstream: %q", calls[len(tc.allowed):])
			}
		})
	}
}

// TestSigninRefreshIsTheCLIsAndOnlyNearExpiry: an agent's refresh is
// answered from the held token while it has time left (the token endpoint
// never asked); near expiry the gateway refreshes with the CLI's own
// client and scopes, never the agent's; and at most once a minute, however
// short the tokens it gets (issue 20).
func TestSigninRefreshIsTheCLIsAndOnlyNearExpiry(t *testing.T) {
	up := &standInLogin{expiresIn: 3600}
	srv := httptest.NewTLSServer(up)
	defer srv.Close()
	c, _, hostFile := signedIn(t, "claude", loginFiles(time.Now().Add(time.Hour))["claude"], srv)
	refresh := func() map[string]any {
		t.Helper()
		body := fmt.Sprintf(`{"grant_type":"refresh_token","refresh_token":%q,"client_id":"agent-own-client","scope":"org:create_api_key user:inference"}`, signin.PlaceholderRefresh)
		code, data := send(t, c, "POST", "https://platform.claude.com/v1/oauth/token", body)
		var m map[string]any
		if code != http.StatusOK || json.Unmarshal([]byte(data), &m) != nil {
			t.Fatalf("the agent's refresh: %d %s", code, data)
		}
		if m["access_token"] != signin.PlaceholderAccess || m["refresh_token"] != signin.PlaceholderRefresh {
			t.Errorf("the agent's answer holds no placeholders: %v", m)
		}
		return m
	}
	m := refresh()
	if _, grants := up.seen(); len(grants) != 0 {
		t.Errorf("the held token had an hour left, and the token endpoint was asked: %v", grants)
	}
	if secs, _ := m["expires_in"].(float64); secs < 3000 || secs > 3600 {
		t.Errorf("the answer from the held token says expires_in %v, want the hour it has left", m["expires_in"])
	}

	// Near expiry: refreshed, with Claude Code's client and scopes.
	os.WriteFile(hostFile, []byte(loginFiles(time.Now().Add(time.Minute))["claude"]), 0o600)
	up.mu.Lock()
	up.expiresIn = 120 // shorter than near expiry: every request would want another
	up.mu.Unlock()
	refresh()
	_, grants := up.seen()
	if len(grants) != 1 || grants[0]["client_id"] != "9d1c250a-e61b-44d9-88ed-5944d1962f5e" || grants[0]["scope"] != "user:profile user:inference user:sessions:claude_code" ||
		grants[0]["refresh_token"] != "sk-ant-ort01-real-0" {
		t.Fatalf("grants %v; want one, with the real refresh token and Claude Code's client and scopes", grants)
	}
	data, _ := os.ReadFile(hostFile)
	if strings.Contains(string(data), "create_api_key") {
		t.Errorf("the agent's scope reached the host's file: %s", data)
	}
	// Rate-limited: the new token is near expiry at once, and no second
	// refresh is made for the next asks; they get the held one.
	for range 3 {
		refresh()
	}
	if _, grants := up.seen(); len(grants) != 1 {
		t.Errorf("%d refreshes in a row, want 1 (rate-limited): %v", len(grants), grants)
	}
	code, _ := send(t, c, "GET", "https://api.anthropic.com/api/oauth/profile", "")
	if calls, _ := up.seen(); code != http.StatusOK || !strings.HasSuffix(calls[len(calls)-1], "Bearer sk-ant-oat01-real-1") {
		t.Errorf("the API after the refresh: %d, %q", code, calls)
	}
}

// TestSigninRoutesRefuseMethodOverrides: a call a sign-in carries cannot
// be turned into another by a header that Google's and other frontends
// honour in place of the method (issue 20).
func TestSigninRoutesRefuseMethodOverrides(t *testing.T) {
	up := &standInLogin{expiresIn: 3600}
	srv := httptest.NewTLSServer(up)
	defer srv.Close()
	c, _, _ := signedIn(t, "gemini", loginFiles(time.Now().Add(time.Hour))["gemini"], srv)
	for _, h := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
		req, _ := http.NewRequest("POST", "https://cloudcode-pa.googleapis.com/v1internal:loadCodeAssist", strings.NewReader(`{}`))
		req.Header.Set(h, "DELETE")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), h) {
			t.Errorf("%s: DELETE: %d %s, want 403 naming the header", h, resp.StatusCode, body)
		}
	}
	if calls, _ := up.seen(); len(calls) != 0 {
		t.Errorf("an overridden call reached the upstream: %q", calls)
	}
}
