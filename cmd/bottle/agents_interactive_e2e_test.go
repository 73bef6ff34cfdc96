//go:build e2e

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var _ = needs([]string{podmanService, rootfulPodman, hostPodman}, TestRealCodexAndGeminiInATerminal)

// TestRealCodexAndGeminiInATerminal: the real Codex and Gemini CLIs,
// signed in with the host's logins and run as a person runs them (a session
// in a terminal, a prompt typed, /quit), do their turn with no first-run
// screen in the way: Gemini's asked how to sign in until its settings named
// the sign-in the bottle made (GEMINI_DEFAULT_AUTH_TYPE alone is read by
// its non-interactive mode only).
func TestRealCodexAndGeminiInATerminal(t *testing.T) {
	t.Run("codex", func(t *testing.T) {
		api := newResponsesAPI(t)
		api.tokens = &chatgptTokens{}
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
		home := filepath.Join(e.dir, "home")
		os.MkdirAll(filepath.Join(home, ".codex"), 0o700)
		old := time.Now().Add(-time.Hour)
		os.WriteFile(filepath.Join(home, ".codex", "auth.json"), []byte(fmt.Sprintf(`{"OPENAI_API_KEY":null,"tokens":{"id_token":%q,"access_token":%q,"refresh_token":"rt-e2e-real-0","account_id":"acct-e2e"},"last_refresh":%q}`,
			chatgptJWT("e2e-real-id-0", old), chatgptJWT("e2e-real-access-0", old), old.UTC().Format(time.RFC3339))), 0o600)
		e.extraEnv = []string{"HOME=" + home}
		converse(t, e, session{profile: "cx", ready: "Ask Codex to do anything", reply: "stand-in codex reply number", quit: "/quit",
			signin: []string{"chatgpt.com", "auth.openai.com"}, refused: []string{"POST chatgpt.com /backend-api/ps/mcp"}})
	})
	t.Run("gemini", func(t *testing.T) {
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
		home := filepath.Join(e.dir, "home")
		os.MkdirAll(filepath.Join(home, ".gemini"), 0o700)
		os.WriteFile(filepath.Join(home, ".gemini", "oauth_creds.json"), []byte(`{"access_token":"ya29.e2e-real-0","refresh_token":"1//e2e-real-refresh","scope":"https://www.googleapis.com/auth/cloud-platform","token_type":"Bearer","expiry_date":1000}`), 0o600)
		e.extraEnv = []string{"HOME=" + home}
		converse(t, e, session{profile: "gm", ready: "Type your message", reply: "stand-in code assist reply", quit: "/quit",
			signin: []string{"cloudcode-pa.googleapis.com", "www.googleapis.com", "oauth2.googleapis.com"}})
	})
}

// session is an agent's session in a terminal: its profile, what its
// prompt shows when ready, the stand-in's reply, how it is ended, and the
// hosts its sign-in narrows, and the calls ("METHOD host path") it makes
// that are refused all the same (ChatGPT's apps, as the person: Codex does
// its turn without).
type session struct {
	profile, ready, reply, quit string
	signin, refused             []string
}

// converse runs s's agent in a terminal as a person would: it waits for
// the prompt, says hello, waits for the stand-in's reply and quits; the
// session must end with 0 and no call to a sign-in's host be refused.
// The bottle is kept, for its audit, and removed after.
func converse(t *testing.T, e *env, s session) {
	t.Helper()
	kept := func() []string {
		return regexp.MustCompile(s.profile+`-[0-9a-z]{5}`).FindAllString(e.mustRun("ls", "-q"), -1)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, id := range kept() {
				for _, c := range egressCalls(t, e, id) {
					t.Logf("egress of %s: %s", id, c)
				}
			}
		}
	})
	// Built first, so the terminal waits for the agent, not the build.
	e.mustRun("start", "--yes", s.profile, "--", "--version")
	term := newTerminal(t, e, 120, 40, "start", "--yes", "--keep", s.profile)
	term.tmux("set-option", "-t", term.session, "remain-on-exit", "on")
	dead := func() bool {
		return strings.TrimSpace(term.tmux("display", "-p", "-t", term.session, "#{pane_dead}")) == "1"
	}
	for deadline := time.Now().Add(90 * time.Second); !strings.Contains(term.screen(), s.ready); {
		if dead() || time.Now().After(deadline) {
			t.Fatalf("no prompt (%q); the screen:\n%s", s.ready, term.screen())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // what the session asks for as it opens
	term.text("say hello")
	time.Sleep(500 * time.Millisecond)
	term.keys("Enter")
	term.waitFor("the stand-in's reply", s.reply)
	term.text(s.quit)
	time.Sleep(500 * time.Millisecond)
	term.keys("Enter")
	for end := time.Now().Add(30 * time.Second); !dead() && time.Now().Before(end); {
		time.Sleep(200 * time.Millisecond)
	}
	if !dead() {
		t.Fatalf("the agent did not end on %s; the screen:\n%s", s.quit, term.screen())
	}
	if data, _ := os.ReadFile(filepath.Join(e.dir, "terminal-exit")); strings.TrimSpace(string(data)) != "0" {
		t.Errorf("the session ended with %q, want 0; the screen:\n%s", data, term.screen())
	}
	ids := kept()
	if len(ids) != 1 {
		t.Fatalf("kept bottles: %q", ids)
	}
	for _, c := range egressCalls(t, e, ids[0]) {
		t.Logf("egress: %s", c)
		if f := strings.Fields(c); f[0] != "allow" && slices.Contains(s.signin, f[2]) && !slices.Contains(s.refused, strings.Join(f[1:4], " ")) {
			t.Errorf("a session in a terminal made a call its sign-in does not carry: %s", c)
		}
	}
	e.mustRun("rm", ids[0])
	e.assertClean()
}
