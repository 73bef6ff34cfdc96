package signin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/config"
)

func profile() *config.Agent {
	return &config.Agent{Name: "claude", Profile: config.Profile{
		Signin: &config.Signin{Agent: "claude", Use: "auto"},
		Egress: []config.Route{{Host: "api.anthropic.com", Ports: []int{443}}},
	}}
}

func host(t *testing.T, env map[string]string, credentials bool) Host {
	home := t.TempDir()
	if credentials {
		os.MkdirAll(filepath.Join(home, ".claude"), 0o700)
		os.WriteFile(filepath.Join(home, ".claude", ".credentials.json"), []byte(`{"claudeAiOauth":{"accessToken":"a","refreshToken":"r","expiresAt":1}}`), 0o600)
	}
	return Host{Getenv: func(k string) string { return env[k] }, Home: home}
}

func TestApplyChoosesAsTheHostIsSignedIn(t *testing.T) {
	for _, tc := range []struct {
		name        string
		env         map[string]string
		credentials bool
		use, want   string
	}{
		{"api key first", map[string]string{"ANTHROPIC_API_KEY": "k", "CLAUDE_CODE_OAUTH_TOKEN": "t"}, true, "auto", UseAPIKey},
		{"token next", map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": "t"}, true, "auto", UseToken},
		{"the login last", nil, true, "auto", UseCredentials},
		{"asked for", map[string]string{"ANTHROPIC_API_KEY": "k"}, true, "credentials", UseCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := profile()
			a.Signin.Use = tc.use
			got, ch, err := Apply(a, host(t, tc.env, tc.credentials))
			if err != nil || ch.Use != tc.want {
				t.Fatalf("Apply = %+v, %v; want %s", ch, err, tc.want)
			}
			if a.Egress[0].Credential != nil || a.Egress[0].Signin != "" || len(a.Egress) != 1 {
				t.Error("Apply changed the profile it was given")
			}
			r := got.Egress[0]
			switch tc.want {
			case UseAPIKey:
				if r.Credential == nil || r.Credential.Header != "x-api-key" || r.Credential.AgentEnv != "ANTHROPIC_API_KEY" || r.Calls != nil {
					t.Errorf("route: %+v", r)
				}
			case UseToken: // a login token: only Claude Code's calls
				if r.Credential == nil || r.Credential.Value != "Bearer {secret}" || r.Credential.FromEnv != "CLAUDE_CODE_OAUTH_TOKEN" || !slices.Contains(r.Calls, "POST /v1/messages") {
					t.Errorf("route: %+v", r)
				}
			case UseCredentials:
				if r.Signin != "claude" || len(got.Egress) != 2 || got.Egress[1].Host != "platform.claude.com" || got.Egress[1].Signin != "claude-token" ||
					!slices.Contains(r.Calls, "POST /v1/messages") || !slices.Equal(got.Egress[1].Calls, []string{"POST /v1/oauth/token"}) {
					t.Errorf("routes: %+v", got.Egress)
				}
			}
		})
	}
	if _, _, err := Apply(profile(), host(t, nil, false)); err == nil || !strings.Contains(err.Error(), "no sign-in for claude") {
		t.Errorf("nothing on the host: %v", err)
	}
	a := profile()
	a.Signin.Use = "token"
	if _, _, err := Apply(a, host(t, nil, true)); err == nil || !strings.Contains(err.Error(), "CLAUDE_CODE_OAUTH_TOKEN is not set") {
		t.Errorf("token asked for, none there: %v", err)
	}
	own := profile()
	own.Egress[0].Credential = &config.Credential{Header: "x-api-key", FromEnv: "MINE"}
	if got, ch, err := Apply(own, host(t, nil, false)); err != nil || got.Egress[0].Credential.FromEnv != "MINE" || ch.Source != "env MINE" {
		t.Errorf("a route's own credential wins: %+v %+v %v", got, ch, err)
	}
}

func TestAgentCredentialsHoldPlaceholders(t *testing.T) {
	out, err := AgentCredentials("claude", []byte(`{"claudeAiOauth":{"accessToken":"sk-ant-oat01-REAL","refreshToken":"sk-ant-ort01-REAL","expiresAt":123,"scopes":["user:inference"],"subscriptionType":"max"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "REAL") || !strings.Contains(string(out), PlaceholderAccess) || !strings.Contains(string(out), `"subscriptionType": "max"`) || !strings.Contains(string(out), `"expiresAt": 123`) {
		t.Errorf("agent's file: %s", out)
	}
}

// tokenEndpoint rotates refresh tokens as the real one does: each refresh
// token works once.
type tokenEndpoint struct {
	mu    sync.Mutex
	valid string
	n     int
}

func (e *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var g map[string]string
	json.NewDecoder(r.Body).Decode(&g)
	e.mu.Lock()
	defer e.mu.Unlock()
	if g["grant_type"] != "refresh_token" || g["refresh_token"] != e.valid {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	e.n++
	e.valid = fmt.Sprintf("refresh-%d", e.n)
	json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("access-%d", e.n), "refresh_token": e.valid, "expires_in": 3600, "token_type": "Bearer"})
}

// TestRefreshersTakeTurns: refreshers of one host file (bottles) asking at
// once, its token run out, take turns: the first refreshes, the others
// find the token it left fresh and answer with it; none spends a refresh
// token already spent, and the file ends with the new pair.
func TestRefreshersTakeTurns(t *testing.T) {
	ep := &tokenEndpoint{valid: "refresh-0"}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "credentials.json")
	os.WriteFile(file, []byte(`{"claudeAiOauth":{"accessToken":"access-0","refreshToken":"refresh-0","expiresAt":1,"subscriptionType":"pro"},"other":true}`), 0o600)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &Refresher{File: file, TokenURL: srv.URL, Client: srv.Client()}
			res, err := r.Refresh(context.Background())
			if err == nil && res["access_token"] != "access-1" {
				err = fmt.Errorf("answered %v, want the one new token", res)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a refresh failed: %v", err)
	}
	data, _ := os.ReadFile(file)
	var f struct {
		O struct {
			AccessToken, RefreshToken, SubscriptionType string
			ExpiresAt                                   int64
		} `json:"claudeAiOauth"`
		Other bool `json:"other"`
	}
	json.Unmarshal(data, &f)
	if ep.n != 1 || f.O.RefreshToken != "refresh-1" || f.O.AccessToken != "access-1" || !f.Other || f.O.SubscriptionType != "pro" || time.UnixMilli(f.O.ExpiresAt).Before(time.Now()) {
		t.Errorf("the host's file after %d refreshes, want 1: %s", ep.n, data)
	}
	// Access refreshes only when the token runs out.
	r := &Refresher{File: file, TokenURL: srv.URL, Client: srv.Client()}
	if tok, _, err := r.Access(context.Background()); err != nil || tok != "access-1" || ep.n != 1 {
		t.Errorf("Access = %q, %v after %d refreshes; want the fresh token as it is", tok, err, ep.n)
	}
}

func TestSchemesMatchTheConfig(t *testing.T) {
	for _, a := range config.SigninAgents {
		if _, ok := Schemes[a]; !ok {
			t.Errorf("config allows signin.agent %q, which has no scheme", a)
		}
	}
	if len(Schemes) != len(config.SigninAgents) {
		t.Errorf("schemes %v, config %v", names(), config.SigninAgents)
	}
}
