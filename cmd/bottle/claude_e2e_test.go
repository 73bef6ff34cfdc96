//go:build e2e

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRealClaudeCodeSignedInWithoutTheLogin: the real Claude Code, signed
// in both ways a subscription user is, never holds the login: with a
// long-lived token (CLAUDE_CODE_OAUTH_TOKEN) the stand-in API sees the
// real one as the bearer; with the host's credentials file, expired, Claude
// Code refreshes through the proxy, the stand-in's token endpoint sees the
// real refresh token and rotates it, the host's file holds the new pair,
// and the API sees the new access token. Nothing the agent can read holds
// a real token (issue 12).
func TestRealClaudeCodeSignedInWithoutTheLogin(t *testing.T) {
	for _, use := range []string{"token", "credentials"} {
		t.Run(use, func(t *testing.T) {
			api := newMessagesAPI(t)
			api.refresh = "sk-ant-ort01-e2e-real-0"
			e := newEnv(t, standIn("cc", "claude", fmt.Sprintf("replace_egress = true\nsignin = { agent = \"claude\", use = %q }\n", use), api.URL, api.CAFile, claudeHosts...))
			claudeImage(t, filepath.Join(e.dir, "ccimg"))
			outside := "claude"
			if use == "token" {
				outside = "claude-token"
			}
			watchProcesses(t, filepath.Join(e.dir, "ccimg"), "/usr/local/bin/claude", outside)
			const longLived = "sk-ant-oat01-e2e-long-lived-token"
			var hostFile string
			if use == "credentials" {
				hostFile = signedIn(t, e, "claude")
				// The person's own setup comes along; a settings file holding a key does not.
				os.WriteFile(filepath.Join(filepath.Dir(hostFile), "CLAUDE.md"), []byte("Always answer as the e2e setup says."), 0o600)
				os.WriteFile(filepath.Join(filepath.Dir(hostFile), "settings.json"), []byte(`{"env":{"GITHUB_TOKEN":"ghp_`+strings.Repeat("aB3dE6gH9j", 3)+`kLmNoP"}}`), 0o600)
			} else {
				e.extraEnv = []string{"CLAUDE_CODE_OAUTH_TOKEN=" + longLived}
			}
			pre := e.mustRun("start", "--dry-run", "cc")
			if !strings.Contains(pre, "signin     claude: "+use+" from ") || strings.Contains(pre, "real-0") || strings.Contains(pre, longLived) {
				t.Errorf("the preflight should say the sign-in and where from, never the value:\n%s", pre)
			}
			out, errs, code := e.run("start", "--yes", "--keep", "cc", "--", "-p", "say hello")
			if code != 0 || !strings.Contains(out, "stand-in reply number 1") {
				t.Fatalf("claude -p signed in by %s: code %d\nstdout: %s\nstderr: %s", use, code, out, errs)
			}
			m := regexp.MustCompile(`bottle resume (cc-[0-9a-z]{5})`).FindStringSubmatch(errs)
			if m == nil {
				t.Fatalf("no resume hint: %s", errs)
			}
			api.mu.Lock()
			bearers, grants := append([]string(nil), api.bearers...), append([]string(nil), api.grants...)
			api.mu.Unlock()
			want := "Bearer " + longLived
			if use == "credentials" {
				want = "Bearer sk-ant-oat01-e2e-real-1"
				if len(grants) == 0 || grants[0] != "sk-ant-ort01-e2e-real-0" {
					t.Errorf("the token endpoint was sent %q, want the host's real refresh token", grants)
				}
				data, _ := os.ReadFile(hostFile)
				if !strings.Contains(string(data), "sk-ant-ort01-e2e-real-1") || !strings.Contains(string(data), "sk-ant-oat01-e2e-real-1") {
					t.Errorf("the host's file does not hold the rotated pair:\n%s", data)
				}
			}
			if use == "credentials" {
				agentHome := filepath.Join(e.rootDir(), m[1], "agent", "home", ".claude")
				if b, err := os.ReadFile(filepath.Join(agentHome, "CLAUDE.md")); err != nil || !strings.Contains(string(b), "e2e setup") {
					t.Errorf("the person's CLAUDE.md did not come into the bottle: %v", err)
				}
				if b, _ := os.ReadFile(filepath.Join(agentHome, "settings.json")); strings.Contains(string(b), "ghp_") {
					t.Error("a settings file holding a key came into the bottle")
				}
				if !strings.Contains(errs, "setup: left out ~/.claude/settings.json (it holds a secret: github-token)") {
					t.Errorf("the person was not told what was left out:\n%s", errs)
				}
				_, convs := api.seen()
				if c, _ := json.Marshal(convs); !strings.Contains(string(c), "e2e setup says") {
					t.Errorf("Claude Code did not read the person's CLAUDE.md:\n%.1500s", c)
				}
			}
			sawReal := false
			for _, b := range bearers {
				if b == want {
					sawReal = true
				}
				if strings.Contains(b, "placeholder") {
					t.Errorf("the stand-in saw the placeholder: %s", b)
				}
			}
			if !sawReal {
				t.Errorf("the stand-in never saw %q: %q", want, bearers)
			}
			filepath.Walk(filepath.Join(e.rootDir(), m[1], "agent"), func(p string, fi os.FileInfo, err error) error {
				if err == nil && fi.Mode().IsRegular() && fi.Size() < 64<<20 {
					if b, _ := os.ReadFile(p); strings.Contains(string(b), "e2e-real") || strings.Contains(string(b), longLived) {
						t.Errorf("a real token is in %s, which the agent can read", p)
					}
				}
				return nil
			})
			api.mu.Lock()
			seen := append([]string(nil), api.paths...)
			api.mu.Unlock()
			assertSigninNarrowed(t, e, m[1], outside, []string{"api.anthropic.com", "platform.claude.com"}, nil, seen)
			if use == "credentials" {
				assertProcessesClean(t, e.workdir, "/usr/local/bin/claude-real", "HOME=/home/bottle", "e2e-real")
			} else {
				assertProcessesClean(t, e.workdir, "/usr/local/bin/claude-real", "CLAUDE_CODE_OAUTH_TOKEN=bottle-placeholder", longLived)
			}
			e.mustRun("rm", m[1])
			e.assertClean()
		})
	}
}

// TestRealClaudeCodeTwoBottlesShareTheLogin: two bottles signed in with
// the same host login, both with its access token run out, start at once;
// the stand-in token endpoint takes each refresh token once, and answers
// slowly, so the refreshes overlap. Each bottle's
// gateway refreshes under the lock on the host's file, so neither spends a
// token the other already spent: both turns are answered, every grant
// succeeds, and the host's file holds the last pair (issue 12).
func TestRealClaudeCodeTwoBottlesShareTheLogin(t *testing.T) {
	api := newMessagesAPI(t)
	api.refresh = "sk-ant-ort01-e2e-real-0"
	api.slow = 2 * time.Second // so that the two bottles' refreshes overlap
	// Two at once in one folder: copies (two bind bottles there may not run together).
	e := newEnv(t, standIn("cc", "claude", "replace_egress = true\nsignin = { agent = \"claude\", use = \"credentials\" }\nworkspace = \"copy\"\n", api.URL, api.CAFile, claudeHosts...))
	claudeImage(t, filepath.Join(e.dir, "ccimg"))
	hostFile := signedIn(t, e, "claude")
	var wg sync.WaitGroup
	results := make([]string, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, errs, code := e.run("start", "--yes", "cc", "--", "-p", fmt.Sprintf("say hello %d", i))
			results[i] = fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
			if code != 0 || !strings.Contains(out, "stand-in reply number") {
				t.Errorf("bottle %d: %s", i, results[i])
			}
		}()
	}
	wg.Wait()
	api.mu.Lock()
	grants, n, bearers := append([]string(nil), api.grants...), api.n, append([]string(nil), api.bearers...)
	api.mu.Unlock()
	t.Logf("grants: %q", grants)
	if n < 1 || len(grants) != n {
		t.Errorf("%d grants, %d of them good: a bottle spent a refresh token already spent (%q)", len(grants), n, grants)
	}
	data, _ := os.ReadFile(hostFile)
	if last := fmt.Sprintf("sk-ant-ort01-e2e-real-%d", n); !strings.Contains(string(data), last) {
		t.Errorf("the host's file does not hold the last pair (%s):\n%s", last, data)
	}
	for _, b := range bearers {
		if strings.Contains(b, "placeholder") {
			t.Errorf("the stand-in saw a placeholder: %s", b)
		}
	}
	e.assertClean()
}
