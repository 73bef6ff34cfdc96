//go:build e2e

package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCredentialInjection: a route's credential reaches the upstream as the
// real secret while the agent holds a placeholder, and the secret is nowhere
// the agent can read or print: with the probe (an intercepted HTTPS route
// beside a plain one), with the real Claude Code, Codex and Gemini CLIs from
// npm in their built-in profiles' form, and on the cluster. One table, one
// set of checks; each row adds what is its own.
func TestCredentialInjection(t *testing.T) {
	for _, c := range credentialCases {
		if !phaseOffers(c.needs) {
			continue // another phase runs it (TestMain knows every row runs somewhere)
		}
		t.Run(c.name, func(t *testing.T) {
			secret := c.prefix + randomHex(16)
			b := c.bottle(t, secret)
			var outs, errss []string
			for _, args := range b.runs {
				out, errs, code := b.e.run(args...)
				if code != 0 {
					t.Fatalf("bottle %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
				}
				outs, errss = append(outs, out), append(errss, errs)
			}
			for i, out := range outs {
				if !strings.Contains(out, b.reply) {
					t.Errorf("run %d: the agent's output lacks %q:\n%s\nstderr: %s", i+1, b.reply, out, errss[i])
				}
				if strings.Contains(out+errss[i], secret) {
					t.Errorf("run %d: the secret reached the agent's output", i+1)
				}
			}
			if b.more != nil {
				b.more(t, outs, errss)
			}
			seen := b.seen()
			if len(seen) == 0 || (b.requests > 0 && len(seen) != b.requests) {
				t.Fatalf("the upstream saw %d requests, want %d (0: some)", len(seen), b.requests)
			}
			for i, v := range seen {
				if v != b.want(secret) {
					t.Errorf("request %d carried %q, want the injected secret", i+1, v)
				}
			}
			for _, dir := range append([]string{b.e.workdir}, b.readable...) {
				filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
					if err == nil && fi.Mode().IsRegular() && fi.Size() < 64<<20 {
						if data, _ := os.ReadFile(p); strings.Contains(string(data), secret) {
							t.Errorf("the secret is in %s, which the agent can read", p)
						}
					}
					return nil
				})
			}
			if b.finish != nil {
				b.finish()
			}
			b.clean(t, b.e)
		})
	}
}

var _ = needs([]string{byRow}, TestCredentialInjection)

// A credentialCase is a way a route's credential is injected: its bottle
// is made with the secret in the host's environment.
type credentialCase struct {
	name   string
	needs  []string // what a phase must offer beside a Podman service, or instead of one
	prefix string   // the secret's, in the form of the real thing
	bottle func(t *testing.T, secret string) *credentialBottle
}

// A credentialBottle is a row's env and what to check of it.
type credentialBottle struct {
	e        *env
	runs     [][]string // bottle commands, each must exit 0
	reply    string     // each run's stdout holds it
	seen     func() []string
	want     func(secret string) string // what the upstream must see, each request
	requests int                        // how many it must see; 0: some
	readable []string                   // where the agent could write, beside the working directory
	more     func(t *testing.T, outs, errs []string)
	finish   func()
	clean    func(*testing.T, *env)
}

func asIs(secret string) string { return secret }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var credentialCases = []credentialCase{
	{name: "probe", prefix: "sk-e2e-", bottle: probeCredential},
	{name: "claude", prefix: "sk-ant-api03-e2e-", bottle: claudeCredential},
	{name: "codex", prefix: "sk-proj-e2e-", bottle: codexCredential},
	{name: "gemini", prefix: "AIza-e2e-", bottle: geminiCredential},
	{name: "cluster", needs: []string{cluster}, prefix: "sk-kube-", bottle: clusterCredential},
}

// probeCredential: an intercepted HTTPS route with x-api-key injected
// beside a plain HTTP one; the preflight names the credential's source,
// never its value, and the agent's environment has the placeholder.
func probeCredential(t *testing.T, secret string) *credentialBottle {
	ee := newEgressEnv(t, "")
	ee.secret = secret
	ee.extraEnv = []string{"BOTTLE_E2E_SECRET=" + secret}
	return &credentialBottle{
		e: ee.env,
		runs: [][]string{{"start", "--yes", "p", "--",
			`probe get https://api.example.test/v1/hello "x-api-key: agent-forged"; probe get http://plain.example.test/plain; env`}},
		reply: "hello from upstream /v1/hello",
		seen: func() []string {
			reqs, _ := ee.tls.requests()
			return headers(reqs, "x-api-key")
		},
		want: asIs, requests: 1,
		more: func(t *testing.T, outs, _ []string) {
			pre := ee.mustRun("start", "--dry-run", "p")
			if !strings.Contains(pre, "egress     api.example.test:443 -> "+ee.tls.URL+", injects x-api-key from env BOTTLE_E2E_SECRET") ||
				!strings.Contains(pre, "egress     plain.example.test:80 -> "+ee.plain.URL) || strings.Contains(pre, secret) {
				t.Errorf("preflight should list both routes and the credential's source, never its value:\n%s", pre)
			}
			lines := strings.Split(strings.TrimSpace(outs[0]), "\n")
			if !strings.HasPrefix(lines[0], "ok get https://api.example.test/v1/hello") {
				t.Errorf("intercepted HTTPS request: %q", lines[0])
			}
			if len(lines) < 2 || !strings.HasPrefix(lines[1], "ok get http://plain.example.test/plain") {
				t.Errorf("plain HTTP request: %q", lines)
			}
			if !strings.Contains(outs[0], "EXAMPLE_API_KEY=bottle-placeholder") {
				t.Errorf("agent env lacks the placeholder:\n%s", outs[0])
			}
		},
		clean: func(*testing.T, *env) { ee.assertClean() },
	}
}

// claudeCredential: the real Claude Code, its API key injected, does a
// turn, is kept, and resumed with --continue (the profile adds it): the
// second turn carries the first; it connected to the bottle's supervise
// server (its debug log, in the bottle's home, says so).
func claudeCredential(t *testing.T, secret string) *credentialBottle {
	api := newMessagesAPI(t)
	e := newEnv(t, fmt.Sprintf(`
[agents.cc]
extends = "claude"
containerfile = "ccimg/Containerfile"
memory = "1g"
replace_egress = true
[[agents.cc.egress]]
host = "api.anthropic.com"
ports = [443]
upstream = "%s"
upstream_ca = "%s"
[agents.cc.egress.credential]
header = "x-api-key"
from_env = "ANTHROPIC_API_KEY"
agent_env = "ANTHROPIC_API_KEY"
`, api.URL, api.CAFile))
	claudeImage(t, filepath.Join(e.dir, "ccimg"))
	e.extraEnv = []string{"ANTHROPIC_API_KEY=" + secret}
	b := &credentialBottle{
		e:     e,
		runs:  [][]string{{"start", "--yes", "--keep", "cc", "--", "-p", "say hello", "--debug"}},
		reply: "stand-in reply number 1",
		seen:  func() []string { keys, _ := api.seen(); return keys },
		want:  asIs, requests: 2,
		clean: func(*testing.T, *env) { e.assertClean() },
	}
	b.more = func(t *testing.T, _, errs []string) {
		m := regexp.MustCompile(`bottle resume (cc-[0-9a-z]{5})`).FindStringSubmatch(errs[0])
		if m == nil {
			t.Fatalf("no resume hint: %s", errs[0])
		}
		id := m[1]
		out, errs2, code := e.run("resume", "--yes", id, "--", "-p", "and again")
		if code != 0 || !strings.Contains(out, "stand-in reply number 2") {
			t.Fatalf("claude --continue after resume: code %d\nstdout: %s\nstderr: %s", code, out, errs2)
		}
		if strings.Contains(out+errs2, secret) {
			t.Error("the secret reached the resumed agent's output")
		}
		logs, _ := filepath.Glob(filepath.Join(e.rootDir(), id, "agent", "home", ".claude", "debug", "*.txt"))
		connected := false
		for _, l := range logs {
			data, _ := os.ReadFile(l)
			connected = connected || (strings.Contains(string(data), `MCP server "bottle": Successfully connected`) && strings.Contains(string(data), `"hasTools":true`))
		}
		if !connected {
			t.Errorf("Claude Code did not connect to the bottle's supervise server (debug logs: %v)", logs)
		}
		if _, convs := api.seen(); len(convs) == 2 {
			second, _ := json.Marshal(convs[1])
			if !strings.Contains(string(second), "say hello") || !strings.Contains(string(second), "stand-in reply number 1") {
				t.Errorf("after resume, the conversation should carry the earlier turn:\n%.2000s", second)
			}
		}
		// The agent only ever held the placeholder: nothing in its home has the key.
		b.readable = append(b.readable, filepath.Join(e.rootDir(), id, "agent"))
		b.finish = func() { e.mustRun("rm", id) }
	}
	return b
}

// codexCredential: the real Codex CLI, its key injected as a bearer, does
// a turn; the model is offered the bottle's supervise tools (Codex lists an
// MCP server's tools as a deferred namespace).
func codexCredential(t *testing.T, secret string) *credentialBottle {
	api := newResponsesAPI(t)
	e := newEnv(t, fmt.Sprintf(`
[agents.cx]
extends = "codex"
containerfile = "cximg/Containerfile"
memory = "1g"
replace_egress = true
[[agents.cx.egress]]
host = "api.openai.com"
ports = [443]
upstream = "%s"
upstream_ca = "%s"
[agents.cx.egress.credential]
header = "authorization"
value = "Bearer {secret}"
from_env = "OPENAI_API_KEY"
agent_env = "OPENAI_API_KEY"
`, api.URL, api.CAFile))
	codexImage(t, filepath.Join(e.dir, "cximg"))
	e.extraEnv = []string{"OPENAI_API_KEY=" + secret}
	return &credentialBottle{
		e:     e,
		runs:  [][]string{{"start", "--yes", "cx", "--", "exec", "--skip-git-repo-check", "say hello"}},
		reply: "stand-in codex reply number 1",
		seen: func() []string {
			api.mu.Lock()
			defer api.mu.Unlock()
			return slices.Clone(api.bearers)
		},
		want: func(s string) string { return "Bearer " + s },
		more: func(t *testing.T, _, _ []string) {
			api.mu.Lock()
			defer api.mu.Unlock()
			if len(api.inputs) == 0 || !strings.Contains(api.inputs[0], "mcp__bottle") {
				t.Errorf("the model was not offered the supervise tools:\n%.1500s", api.inputs)
			}
		},
		clean: func(*testing.T, *env) { e.assertClean() },
	}
}

// geminiCredential: the real Gemini CLI, its key injected as
// x-goog-api-key, does a turn; the model is offered the bottle's
// supervise tools.
func geminiCredential(t *testing.T, secret string) *credentialBottle {
	api := newGeminiAPI(t)
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
	return &credentialBottle{
		e:     e,
		runs:  [][]string{{"start", "--yes", "gm", "--", "-p", "say hello"}},
		reply: "stand-in gemini reply",
		seen: func() []string {
			api.mu.Lock()
			defer api.mu.Unlock()
			return slices.Clone(api.keys)
		},
		want: asIs,
		more: func(t *testing.T, outs, errs []string) {
			api.mu.Lock()
			defer api.mu.Unlock()
			offered := false
			for _, b := range api.bodies {
				offered = offered || strings.Contains(b, "request_egress")
			}
			if !offered {
				t.Errorf("the model was not offered the supervise tools (%d requests)\nstderr: %s\nstdout: %s", len(api.bodies), errs[0], outs[0])
			}
		},
		clean: func(*testing.T, *env) { e.assertClean() },
	}
}

// clusterCredential: on the cluster, under runc and runsc, an allowed
// HTTPS route works from the agent's container through the proxy's
// interception; a plain route to the same upstream's host, not loopback,
// may not carry a credential, so the gateway is what the agent reaches
// (issue 14).
func clusterCredential(t *testing.T, secret string) *credentialBottle {
	up := newUpstreamOn(t, true, kubeNodeIP)
	e := kubeEnv(t, fmt.Sprintf(`
[[agents.k.egress]]
host = "api.example.test"
ports = [443]
upstream = "%s"
upstream_ca = "%s"
[agents.k.egress.credential]
header = "x-api-key"
from_env = "BOTTLE_E2E_KUBE_SECRET"
agent_env = "EXAMPLE_API_KEY"
`, up.URL, up.CAFile))
	e.extraEnv = append(e.extraEnv, "BOTTLE_E2E_KUBE_SECRET="+secret)
	script := `/workspace/probe get https://api.example.test/v1/hello "x-api-key: agent-forged"; env; cat /proc/*/environ 2>/dev/null | tr '\0' '\n'`
	return &credentialBottle{
		e:     e,
		runs:  [][]string{{"start", "--yes", "k", "--", script}, {"start", "--yes", "g", "--", script}},
		reply: "hello from upstream /v1/hello",
		seen: func() []string {
			reqs, _ := up.requests()
			return headers(reqs, "x-api-key")
		},
		want: asIs, requests: 2,
		more: func(t *testing.T, outs, _ []string) {
			for i, out := range outs {
				if !strings.Contains(out, "ok get https://api.example.test/v1/hello") || !strings.Contains(out, "EXAMPLE_API_KEY=bottle-placeholder") {
					t.Errorf("run %d: the allowed route from the pod, and the placeholder in the agent's environment:\n%s", i+1, out)
				}
			}
		},
		clean: kubeClean,
	}
}
