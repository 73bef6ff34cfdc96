//go:build e2e

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

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
	e := newEnv(t, standIn("cx", "codex", "", api.URL, api.CAFile, codexHosts...))
	codexImage(t, filepath.Join(e.dir, "cximg"))
	watchProcesses(t, filepath.Join(e.dir, "cximg"), "/usr/local/bin/codex", "codex")
	hostFile := signedIn(t, e, "codex")

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
