package signin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/config"
)

// testJWT is an unsigned JWT with the claims Codex reads.
func testJWT(exp time.Time, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"exp": exp.Unix(), "email": "a@example.test",
		"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": "acct-1", "chatgpt_plan_type": "plus"}})
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(claims) + "." + sig
}

func TestCodexAgentFileHoldsPlaceholders(t *testing.T) {
	access, id := testJWT(time.Now().Add(time.Hour), "REALSIGA"), testJWT(time.Now().Add(time.Hour), "REALSIGI")
	host := fmt.Sprintf(`{"OPENAI_API_KEY":"sk-in-the-file","tokens":{"id_token":%q,"access_token":%q,"refresh_token":"rt-REAL","account_id":"acct-1"},"last_refresh":"2026-11-30T00:00:00Z"}`, id, access)
	out, err := AgentCredentials("codex", []byte(host))
	if err != nil {
		t.Fatal(err)
	}
	for _, real := range []string{"REALSIGA", "REALSIGI", "rt-REAL", "sk-in-the-file"} {
		if strings.Contains(string(out), real) {
			t.Errorf("the agent's file holds %s:\n%s", real, out)
		}
	}
	var f struct {
		Tokens map[string]string `json:"tokens"`
		Last   string            `json:"last_refresh"`
	}
	json.Unmarshal(out, &f)
	if !IsPlaceholderJWT(f.Tokens["access_token"]) || f.Tokens["account_id"] != "acct-1" || f.Last == "" ||
		!jwtExpiry(f.Tokens["access_token"]).Equal(jwtExpiry(access)) || strings.Split(f.Tokens["id_token"], ".")[1] != strings.Split(id, ".")[1] {
		t.Errorf("the agent's file does not keep the login's shape and claims:\n%s", out)
	}
	if _, err := AgentCredentials("codex", []byte(`{"OPENAI_API_KEY":"sk-x"}`)); err == nil || !strings.Contains(err.Error(), "codex login") {
		t.Errorf("a file with no ChatGPT login: %v", err)
	}
}

func TestCodexRefresherRotatesInPlace(t *testing.T) {
	var grants []map[string]string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var g map[string]string
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &g) != nil {
			http.Error(w, "json please", http.StatusBadRequest)
			return
		}
		grants = append(grants, g)
		n := len(grants)
		json.NewEncoder(w).Encode(map[string]any{"access_token": testJWT(time.Now().Add(time.Hour), fmt.Sprintf("A%d", n)),
			"id_token": testJWT(time.Now().Add(time.Hour), fmt.Sprintf("I%d", n)), "refresh_token": fmt.Sprintf("rt-%d", n)})
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "auth.json")
	os.WriteFile(file, []byte(fmt.Sprintf(`{"tokens":{"id_token":%q,"access_token":%q,"refresh_token":"rt-0","account_id":"acct-1"}}`,
		testJWT(time.Now().Add(-time.Hour), "I0"), testJWT(time.Now().Add(-time.Minute), "A0"))), 0o600)
	r := &Refresher{File: file, Login: Logins["codex"], TokenURL: srv.URL, Client: srv.Client()}
	tok, exp, err := r.Access(context.Background())
	if err != nil || !strings.HasSuffix(tok, ".A1") || time.Until(exp) < 50*time.Minute {
		t.Fatalf("Access = %q %v, %v; want the refreshed token", tok, exp, err)
	}
	if len(grants) != 1 || grants[0]["refresh_token"] != "rt-0" || grants[0]["client_id"] != codexClientID || grants[0]["grant_type"] != "refresh_token" {
		t.Errorf("grants: %v", grants)
	}
	// The agent asking while the token has an hour left: the held token.
	res, err := r.Refresh(context.Background())
	if err != nil || len(grants) != 1 || !strings.HasSuffix(str(res["access_token"]), ".A1") || res["refresh_token"] != "rt-1" {
		t.Fatalf("Refresh = %v, %v; grants %v; want the held tokens", res, err, grants)
	}
	data, _ := os.ReadFile(file)
	if !strings.Contains(string(data), `"rt-1"`) || !strings.Contains(string(data), ".A1") || !strings.Contains(string(data), "last_refresh") {
		t.Errorf("the host's file after a refresh:\n%s", data)
	}
	p := Placeholders("codex", res)
	if !IsPlaceholderJWT(p["access_token"].(string)) || !IsPlaceholderJWT(p["id_token"].(string)) || p["refresh_token"] != CodexPlaceholderRefresh {
		t.Errorf("the agent's answer: %v", p)
	}
}

func TestIsRefreshGrant(t *testing.T) {
	for body, want := range map[string]bool{
		`{"grant_type":"refresh_token","client_id":"c","refresh_token":"x"}`: true,
		`grant_type=refresh_token&client_id=c&refresh_token=x`:               true,
		`{"grant_type":"authorization_code","code":"x"}`:                     false,
		`grant_type=authorization_code&code=x`:                               false,
	} {
		if got := IsRefreshGrant([]byte(body)); got != want {
			t.Errorf("IsRefreshGrant(%s) = %v", body, got)
		}
	}
}

func TestApplyCodexLogin(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".codex"), 0o700)
	os.WriteFile(filepath.Join(home, ".codex", "auth.json"), []byte(`{"tokens":{}}`), 0o600)
	a := &config.Agent{Name: "codex", Profile: config.Profile{AlwaysArgs: []string{"-c", "x=1"},
		Signin: &config.Signin{Agent: "codex", Use: "auto"}, Egress: []config.Route{{Host: "api.openai.com", Ports: []int{443}, Inbound: "log"}}}}
	got, ch, err := Apply(a, Host{Getenv: func(string) string { return "" }, Home: home})
	if err != nil || ch.Use != UseCredentials {
		t.Fatalf("Apply = %+v, %v", ch, err)
	}
	var hosts []string
	for _, r := range got.Egress {
		hosts = append(hosts, r.Host+":"+r.Signin)
	}
	if strings.Join(hosts, " ") != "api.openai.com: chatgpt.com:codex auth.openai.com:codex-token" {
		t.Errorf("routes: %v", hosts)
	}
	if len(got.AlwaysArgs) != 4 || !strings.Contains(got.AlwaysArgs[3], "chatgpt.com/backend-api/codex") || len(a.AlwaysArgs) != 2 {
		t.Errorf("args: %v (the profile's: %v)", got.AlwaysArgs, a.AlwaysArgs)
	}
	key, _, err := Apply(a, Host{Getenv: func(k string) string { return map[string]string{"OPENAI_API_KEY": "sk"}[k] }, Home: home})
	if err != nil || key.Egress[0].Credential == nil || key.Egress[0].Credential.Value != "Bearer {secret}" || len(key.Egress) != 1 {
		t.Errorf("with a key: %+v %v", key.Egress, err)
	}
	a.Signin.Use = UseToken
	if _, _, err := Apply(a, Host{Getenv: func(string) string { return "" }, Home: home}); err == nil || !strings.Contains(err.Error(), "no long-lived token") {
		t.Errorf("token asked of codex: %v", err)
	}
}

func TestGoogleLogin(t *testing.T) {
	host := `{"access_token":"ya29.REAL","refresh_token":"1//REAL","scope":"s","token_type":"Bearer","id_token":"h.p.REALSIG","expiry_date":1000}`
	out, err := AgentCredentials("gemini", []byte(host))
	if err != nil || strings.Contains(string(out), "REAL") || !strings.Contains(string(out), GooglePlaceholderAccess) || !strings.Contains(string(out), `"expiry_date": 1000`) {
		t.Errorf("the agent's oauth_creds.json: %v\n%s", err, out)
	}
	var grant url.Values
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		grant, _ = url.ParseQuery(string(body))
		json.NewEncoder(w).Encode(map[string]any{"access_token": "ya29.FRESH", "expires_in": 3599, "token_type": "Bearer"})
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "oauth_creds.json")
	os.WriteFile(file, []byte(host), 0o600)
	r := &Refresher{File: file, Login: Logins["gemini"], TokenURL: srv.URL, Client: srv.Client()}
	tok, exp, err := r.Access(context.Background())
	if err != nil || tok != "ya29.FRESH" || time.Until(exp) < 50*time.Minute {
		t.Fatalf("Access = %q %v %v", tok, exp, err)
	}
	if grant.Get("refresh_token") != "1//REAL" || grant.Get("client_secret") != geminiClientSecret || grant.Get("grant_type") != "refresh_token" {
		t.Errorf("the grant: %v", grant)
	}
	data, _ := os.ReadFile(file)
	if !strings.Contains(string(data), "ya29.FRESH") || !strings.Contains(string(data), "1//REAL") {
		t.Errorf("the host's file keeps its refresh token and takes the new access token:\n%s", data)
	}
}

func TestApplyGeminiLogin(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".gemini"), 0o700)
	os.WriteFile(filepath.Join(home, ".gemini", "oauth_creds.json"), []byte(`{"refresh_token":"r"}`), 0o600)
	a := &config.Agent{Name: "gemini", Profile: config.Profile{Env: map[string]string{"GEMINI_DEFAULT_AUTH_TYPE": "gemini-api-key", "X": "1"},
		Signin: &config.Signin{Agent: "gemini", Use: "auto"}, Egress: []config.Route{{Host: "generativelanguage.googleapis.com", Ports: []int{443}}}}}
	got, ch, err := Apply(a, Host{Getenv: func(string) string { return "" }, Home: home})
	if err != nil || ch.Use != UseCredentials {
		t.Fatalf("Apply = %+v, %v", ch, err)
	}
	var hosts []string
	for _, r := range got.Egress {
		hosts = append(hosts, r.Host+":"+r.Signin+":"+strings.Join(r.Paths, ","))
	}
	if strings.Join(hosts, " ") != "generativelanguage.googleapis.com:: cloudcode-pa.googleapis.com:gemini: www.googleapis.com:gemini: oauth2.googleapis.com:gemini-token:/token,/tokeninfo" {
		t.Errorf("routes: %v", hosts)
	}
	if got.Env["GEMINI_DEFAULT_AUTH_TYPE"] != "oauth-personal" || got.Env["X"] != "1" || a.Env["GEMINI_DEFAULT_AUTH_TYPE"] != "gemini-api-key" {
		t.Errorf("env: %v (the profile's: %v)", got.Env, a.Env)
	}
}
