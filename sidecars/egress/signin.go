package egress

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bottle-sandbox/bottle/internal/signin"
)

// A subscription login (Claude's, Codex's ChatGPT one) stays on the host's side: the gateway
// holds the host's credentials file and refreshes it; the proxy asks it
// for the access token, sets it on the API route in place of the agent's
// placeholder, and answers the agent's own refreshes itself, with
// placeholders, without the agent's request ever leaving. The refresh
// token never enters the pod.

// Route.Signin is the agent whose login a route carries: "AGENT" on its
// API routes, where the access token goes; "AGENT-token" on its token
// endpoint's host, where the agent's refreshes (the route's first path)
// are answered and any other call (Google's tokeninfo) gets the token.
func isSigninToken(s string) bool { return strings.HasSuffix(s, "-token") }
func signinAgent(s string) string { return strings.TrimSuffix(s, "-token") }

type signinState struct {
	mu     sync.Mutex
	token  string
	exp    time.Time
	client *http.Client
	scrub  *scrubber // the current access token, out of what comes back
}

func newSigninState(dir string) *signinState {
	sock := filepath.Join(dir, SocketDir, SocketName)
	return &signinState{client: &http.Client{Timeout: 45 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}}
}

// access is the current access token, from the gateway when the one held
// runs out.
func (s *signinState) access(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && time.Until(s.exp) > time.Minute {
		return s.token, nil
	}
	var res struct {
		AccessToken string `json:"access_token"`
		ExpiresAt   int64  `json:"expires_at"`
	}
	if err := s.call(ctx, "/signin/access", nil, &res); err != nil {
		return "", err
	}
	s.set(res.AccessToken, time.UnixMilli(res.ExpiresAt))
	return s.token, nil
}

// refresh answers the agent's refresh through the gateway (which refreshes
// only when the login is due), with the tokens swapped for placeholders.
func (s *signinState) refresh(ctx context.Context, agent string) ([]byte, error) {
	var res map[string]any
	if err := s.call(ctx, "/signin/refresh", nil, &res); err != nil {
		return nil, err
	}
	token, _ := res["access_token"].(string)
	secs, _ := res["expires_in"].(float64)
	s.mu.Lock()
	s.set(token, time.Now().Add(time.Duration(secs)*time.Second))
	s.mu.Unlock()
	return json.Marshal(signin.Placeholders(agent, res))
}

// set takes a new token; the caller holds mu.
func (s *signinState) set(token string, exp time.Time) {
	if token != s.token {
		s.scrub = newScrubber(token)
	}
	s.token, s.exp = token, exp
}

func (s *signinState) scrubber() *scrubber {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scrub
}

func (s *signinState) call(ctx context.Context, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://gateway"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("the gateway: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the gateway: %s", bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, out)
}
