//go:build e2e

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var _ = needs([]string{podmanService, rootfulPodman, hostPodman}, TestRealClaudeCodeInteractiveSignedIn)

// TestRealClaudeCodeInteractiveSignedIn: the real Claude Code, signed in
// with the host's login and run as a person runs it (a session in a
// terminal, a prompt typed, /exit), does its turn and makes no call that
// the sign-in's narrowing refuses (issue 20: the calls the sign-in carries
// were first recorded from `claude -p` only, and an interactive session
// asks for more), signed in with the host's login or with an API key.
// What it asks of the stand-in is logged, to record it.
func TestRealClaudeCodeInteractiveSignedIn(t *testing.T) {
	for _, use := range []string{"credentials", "api-key"} {
		t.Run(use, func(t *testing.T) { claudeInTerminal(t, use) })
	}
}

func claudeInTerminal(t *testing.T, use string) {
	api := newMessagesAPI(t)
	api.refresh = "sk-ant-ort01-e2e-real-0"
	e := newEnv(t, fmt.Sprintf(`
[agents.cc]
extends = "claude"
containerfile = "ccimg/Containerfile"
memory = "1g"
replace_egress = true
signin = { agent = "claude", use = %q }
[[agents.cc.egress]]
host = "api.anthropic.com"
ports = [443]
upstream = "%s"
upstream_ca = "%s"
[[agents.cc.egress]]
host = "platform.claude.com"
ports = [443]
upstream = "%s"
upstream_ca = "%s"
`, use, api.URL, api.CAFile, api.URL, api.CAFile))
	claudeImage(t, filepath.Join(e.dir, "ccimg"))
	const key = "sk-ant-api03-e2e-real-key-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if use == "api-key" {
		e.extraEnv = []string{"ANTHROPIC_API_KEY=" + key}
	} else {
		// A person signed in on this machine, and nothing else of theirs:
		// no ~/.claude.json past its first-run screens.
		home := filepath.Join(e.dir, "home")
		os.MkdirAll(filepath.Join(home, ".claude"), 0o700)
		os.WriteFile(filepath.Join(home, ".claude", ".credentials.json"), []byte(`{"claudeAiOauth":{"accessToken":"sk-ant-oat01-e2e-real-0","refreshToken":"sk-ant-ort01-e2e-real-0","expiresAt":1000,"scopes":["user:inference","user:profile","user:sessions:claude_code"],"subscriptionType":"max"}}`), 0o600)
		e.extraEnv = []string{"HOME=" + home}
	}
	converse(t, e, session{profile: "cc", ready: "bypass permissions on", reply: "stand-in reply number", quit: "/exit",
		signin: []string{"api.anthropic.com", "platform.claude.com"}})
	api.mu.Lock()
	seen, bearers := append([]string(nil), api.paths...), append([]string(nil), api.bearers...)
	api.mu.Unlock()
	keys, _ := api.seen()
	t.Logf("the stand-in saw: %q", seen)
	switch {
	case use == "api-key" && !slices.Contains(keys, key):
		t.Errorf("the stand-in never saw the real key: %q", keys)
	case use == "credentials" && !slices.Contains(bearers, "Bearer sk-ant-oat01-e2e-real-1"):
		t.Errorf("the stand-in never saw the refreshed token: %q", bearers)
	}
}
