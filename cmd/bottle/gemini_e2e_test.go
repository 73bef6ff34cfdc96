//go:build e2e

package main

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

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

// TestRealGeminiThroughTheProxy: the real Gemini CLI from npm, in the
// built-in gemini profile's form, does one turn against a stand-in Gemini
// API with the key injected as x-goog-api-key: the stand-in sees the real
// key, the agent held a placeholder, and the model is offered the bottle's
// supervise tools (issue 12).
func TestRealGeminiThroughTheProxy(t *testing.T) {
	api := newGeminiAPI(t)
	key := make([]byte, 16)
	rand.Read(key)
	secret := "AIza-e2e-" + hex.EncodeToString(key)
	e := newEnv(t, fmt.Sprintf(`
[agents.gm]
extends = "gemini"
containerfile = "gmimg/Containerfile"
memory = "1g"
replace_egress = true
[[agents.gm.egress]]
host = "generativelanguage.googleapis.com"
ports = [443]
upstream = "%s"
upstream_ca = "%s"
[agents.gm.egress.credential]
header = "x-goog-api-key"
from_env = "GEMINI_API_KEY"
agent_env = "GEMINI_API_KEY"
`, api.URL, api.CAFile))
	geminiImage(t, filepath.Join(e.dir, "gmimg"))
	e.extraEnv = []string{"GEMINI_API_KEY=" + secret}
	out, errs, code := e.run("start", "--yes", "gm", "--", "-p", "say hello")
	if code != 0 || !strings.Contains(out, "stand-in gemini reply") {
		t.Fatalf("gemini -p in a bottle: code %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	for i, k := range api.keys {
		if k != secret {
			t.Errorf("request %d carried x-goog-api-key %q, want the injected key", i+1, k)
		}
	}
	offered := false
	for _, b := range api.bodies {
		offered = offered || strings.Contains(b, "request_egress")
	}
	if !offered {
		t.Errorf("the model was not offered the supervise tools (%d requests)\nstderr: %s\nstdout: %s", len(api.bodies), errs, out)
	}
	if strings.Contains(out+errs, secret) {
		t.Error("the key reached the agent's output")
	}
	e.assertClean()
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

// TestRealGeminiSignedInWithGoogle: the real Gemini CLI, signed in with
// Google on the host (~/.gemini/oauth_creds.json, its access token run
// out), works in a bottle that never holds the login (issue 12): the
// agent's file has placeholders (the CLI takes itself to be signed in and
// refreshes, answered with placeholders), the gateway refreshes with the
// real refresh token and writes the new access token into the host's file,
// tokeninfo, userinfo and Code Assist see only the real current token, and
// no real token is anywhere the agent can read.
func TestRealGeminiSignedInWithGoogle(t *testing.T) {
	g := newGoogleLogin(t)
	e := newEnv(t, fmt.Sprintf(`
[agents.gm]
extends = "gemini"
containerfile = "gmimg/Containerfile"
memory = "1g"
[[agents.gm.egress]]
host = "cloudcode-pa.googleapis.com"
ports = [443]
upstream = "%[1]s"
upstream_ca = "%[2]s"
[[agents.gm.egress]]
host = "www.googleapis.com"
ports = [443]
upstream = "%[1]s"
upstream_ca = "%[2]s"
[[agents.gm.egress]]
host = "oauth2.googleapis.com"
ports = [443]
upstream = "%[1]s"
upstream_ca = "%[2]s"
`, g.URL, g.CAFile))
	geminiImage(t, filepath.Join(e.dir, "gmimg"))
	watchProcesses(t, filepath.Join(e.dir, "gmimg"), "/usr/local/bin/gemini", "gemini")
	home := filepath.Join(e.dir, "home")
	os.MkdirAll(filepath.Join(home, ".gemini"), 0o700)
	hostFile := filepath.Join(home, ".gemini", "oauth_creds.json")
	os.WriteFile(hostFile, []byte(`{"access_token":"ya29.e2e-real-0","refresh_token":"1//e2e-real-refresh","scope":"https://www.googleapis.com/auth/cloud-platform","token_type":"Bearer","expiry_date":1000}`), 0o600)
	e.extraEnv = []string{"HOME=" + home}

	pre := e.mustRun("start", "--dry-run", "gm")
	if !strings.Contains(pre, "signin     gemini: credentials from file "+hostFile) || strings.Contains(pre, "e2e-real") {
		t.Errorf("the preflight should say the sign-in and where from, never the value:\n%s", pre)
	}
	out, errs, code := e.run("start", "--yes", "--keep", "gm", "--", "-p", "say hello")
	g.mu.Lock()
	calls, grants := append([]string(nil), g.calls...), append([]url.Values(nil), g.grants...)
	g.mu.Unlock()
	if code != 0 || !strings.Contains(out, "stand-in code assist reply") {
		t.Fatalf("gemini -p signed in with Google: code %d\nstdout: %s\nstderr: %s\ncalls: %q", code, out, errs, calls)
	}
	m := regexp.MustCompile(`bottle resume (gm-[0-9a-z]{5})`).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("no resume hint: %s", errs)
	}
	t.Logf("calls: %q", calls)
	if len(grants) == 0 {
		t.Fatal("the token endpoint saw no refresh")
	}
	for _, v := range grants {
		if v.Get("refresh_token") != "1//e2e-real-refresh" {
			t.Errorf("the token endpoint was sent %v, want the host's real refresh token", v)
		}
	}
	for _, want := range []string{"/tokeninfo", ":loadCodeAssist", ":streamGenerateContent"} {
		seen := false
		for _, c := range calls {
			path, bearer, _ := strings.Cut(c, " ")
			if strings.HasSuffix(path, want) {
				seen = true
				if !strings.HasPrefix(bearer, "Bearer ya29.e2e-real-") {
					t.Errorf("%s got %q, want a real token", path, bearer)
				}
			}
		}
		if !seen {
			t.Errorf("no call to %s: %q", want, calls)
		}
	}
	data, _ := os.ReadFile(hostFile)
	if !strings.Contains(string(data), fmt.Sprintf("ya29.e2e-real-%d", len(grants))) || !strings.Contains(string(data), "1//e2e-real-refresh") {
		t.Errorf("the host's file does not hold the new access token and its refresh token:\n%s", data)
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
	g.mu.Lock()
	seen := append([]string(nil), g.calls...)
	g.mu.Unlock()
	assertSigninNarrowed(t, e, m[1], "gemini", []string{"cloudcode-pa.googleapis.com", "www.googleapis.com", "oauth2.googleapis.com"}, nil, seen)
	assertProcessesClean(t, e.workdir, "/opt/gemini/bundle/gemini.js", "GOOGLE_GENAI_USE_GCA=true", "e2e-real")
	e.mustRun("rm", m[1])
	e.assertClean()
}
