package egress

import (
	"context"
	"crypto/x509"
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

// standInAnthropic is the OAuth token endpoint (each refresh token works
// once, as the real one's) and the API (it records the bearer tokens and
// echoes them back, as an error page might).
type standInAnthropic struct {
	mu      sync.Mutex
	valid   string
	n       int
	grants  []string // refresh tokens it was sent
	bearers []string
}

func (s *standInAnthropic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path == "/v1/oauth/token" {
		var g map[string]string
		json.NewDecoder(r.Body).Decode(&g)
		s.grants = append(s.grants, g["refresh_token"])
		if g["refresh_token"] != s.valid {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		s.n++
		s.valid = fmt.Sprintf("sk-ant-ort01-real-%d", s.n)
		json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("sk-ant-oat01-real-%d", s.n), "refresh_token": s.valid,
			"expires_in": 3600, "token_type": "Bearer", "account": map[string]string{"uuid": "u1"}, "organization": map[string]string{"uuid": "o1"}})
		return
	}
	s.bearers = append(s.bearers, r.Header.Get("Authorization"))
	fmt.Fprintf(w, `{"you_sent":%q}`, r.Header.Get("Authorization"))
}

// signinBottle is one bottle's egress (proxy and gateway) signing in with
// the host's file.
func signinBottle(t *testing.T, hostFile, upURL, caFile string) (*http.Client, string) {
	t.Helper()
	dir, _ := os.MkdirTemp("", "signin-")
	t.Cleanup(func() { os.RemoveAll(dir) })
	routes := []config.Route{
		{Host: "api.anthropic.com", Ports: []int{443}, Upstream: upURL, UpstreamCA: caFile, Signin: "claude"},
		{Host: "platform.claude.com", Ports: []int{443}, Methods: []string{"POST"}, Paths: []string{"/v1/oauth/token"}, Upstream: upURL, UpstreamCA: caFile, Signin: "claude-token"},
	}
	eg := filepath.Join(dir, "egress")
	os.MkdirAll(filepath.Join(dir, "agent"), 0o700)
	if _, err := Prepare(context.Background(), "signin", eg, "", filepath.Join(dir, "agent"), routes, nil, nil, nil, nil); err != nil {
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
	addr := cp.start(t)
	proxyURL, _ := url.Parse("http://" + addr)
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: tlsConfig(cp)}}, eg
}

// TestSigninStaysOnTheHostSide: an agent holding placeholders refreshes
// through the proxy, which has the gateway refresh the host's login with
// the real refresh token and answers with placeholders; the API then sees
// the real access token; two bottles refreshing at once both succeed, with
// one refresh; the
// echoed token reaches the agent as the placeholder; a sign-in from inside
// is refused (issue 12).
func TestSigninStaysOnTheHostSide(t *testing.T) {
	api := &standInAnthropic{valid: "sk-ant-ort01-real-0"}
	up := httptest.NewTLSServer(api)
	defer up.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}), 0o644)
	hostFile := filepath.Join(t.TempDir(), ".credentials.json")
	os.WriteFile(hostFile, []byte(`{"claudeAiOauth":{"accessToken":"sk-ant-oat01-real-0","refreshToken":"sk-ant-ort01-real-0","expiresAt":1000,"subscriptionType":"max"}}`), 0o600)

	a, _ := signinBottle(t, hostFile, up.URL, caFile)
	b, _ := signinBottle(t, hostFile, up.URL, caFile)
	refresh := func(c *http.Client) (map[string]any, error) {
		body := fmt.Sprintf(`{"grant_type":"refresh_token","refresh_token":%q,"client_id":"9d1c250a-e61b-44d9-88ed-5944d1962f5e","scope":"user:inference"}`, signin.PlaceholderRefresh)
		resp, err := c.Post("https://platform.claude.com/v1/oauth/token", "application/json", strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("status %d: %s", resp.StatusCode, data)
		}
		var m map[string]any
		return m, json.Unmarshal(data, &m)
	}
	var wg sync.WaitGroup
	answers := make([]map[string]any, 2)
	errs := make([]error, 2)
	for i, c := range []*http.Client{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = refresh(c)
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("bottle %d's refresh: %v", i+1, errs[i])
		}
		if answers[i]["access_token"] != signin.PlaceholderAccess || answers[i]["refresh_token"] != signin.PlaceholderRefresh || answers[i]["expires_in"] == nil {
			t.Errorf("bottle %d's answer: %v", i+1, answers[i])
		}
	}
	// One refreshed; the other, its turn come, found the new token fresh.
	if strings.Join(api.grants, " ") != "sk-ant-ort01-real-0" {
		t.Errorf("the token endpoint was sent %q; want the real refresh token, once", api.grants)
	}
	data, _ := os.ReadFile(hostFile)
	if !strings.Contains(string(data), "sk-ant-ort01-real-1") || !strings.Contains(string(data), `"subscriptionType": "max"`) {
		t.Errorf("the host's file after the refresh: %s", data)
	}

	req, _ := http.NewRequest("GET", "https://api.anthropic.com/api/oauth/profile", nil)
	req.Header.Set("Authorization", "Bearer "+signin.PlaceholderAccess)
	resp, err := a.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	echo, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := api.bearers[len(api.bearers)-1]; !strings.HasPrefix(got, "Bearer sk-ant-oat01-real-") {
		t.Errorf("the API saw %q, want the real access token", got)
	}
	if strings.Contains(string(echo), "real") {
		t.Errorf("the echoed token reached the agent: %s", echo)
	}

	resp, err = a.Post("https://platform.claude.com/v1/oauth/token", "application/json", strings.NewReader(`{"grant_type":"authorization_code","code":"x"}`))
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a sign-in from inside: %v %v, want 403", resp.StatusCode, err)
	}
}

func poolOf(pemData []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pemData)
	return p
}
