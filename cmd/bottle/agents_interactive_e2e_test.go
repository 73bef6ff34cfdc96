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

var _ = needs([]string{podmanService, rootfulPodman, hostPodman}, TestRealClaudeCodeInteractiveSignedIn, TestRealCodexAndGeminiInATerminal)

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
	e := newEnv(t, standIn("cc", "claude", fmt.Sprintf("replace_egress = true\nsignin = { agent = \"claude\", use = %q }\n", use), api.URL, api.CAFile, claudeHosts...))
	claudeImage(t, filepath.Join(e.dir, "ccimg"))
	const key = "sk-ant-api03-e2e-real-key-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if use == "api-key" {
		e.extraEnv = []string{"ANTHROPIC_API_KEY=" + key}
	} else {
		// A person signed in on this machine, and nothing else of theirs:
		// no ~/.claude.json past its first-run screens.
		signedIn(t, e, "claude")
	}
	converse(t, e, session{profile: "cc", ready: "bypass permissions on", reply: "stand-in reply number", quit: "/exit",
		signin: claudeHosts})
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
		e := newEnv(t, standIn("cx", "codex", "", api.URL, api.CAFile, codexHosts...))
		codexImage(t, filepath.Join(e.dir, "cximg"))
		signedIn(t, e, "codex")
		converse(t, e, session{profile: "cx", ready: "Ask Codex to do anything", reply: "stand-in codex reply number", quit: "/quit",
			signin: codexHosts, refused: []string{"POST chatgpt.com /backend-api/ps/mcp"}})
	})
	t.Run("gemini", func(t *testing.T) {
		g := newGoogleLogin(t)
		e := newEnv(t, standIn("gm", "gemini", "", g.URL, g.CAFile, geminiHosts...))
		geminiImage(t, filepath.Join(e.dir, "gmimg"))
		signedIn(t, e, "gemini")
		converse(t, e, session{profile: "gm", ready: "Type your message", reply: "stand-in code assist reply", quit: "/quit", signin: geminiHosts})
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
