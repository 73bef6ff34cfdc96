//go:build e2e

package main

import (
	"bufio"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// egressCalls is what a bottle's egress audit says of each request: its
// decision, method, host and path, and the reason, a line each.
func egressCalls(t *testing.T, e *env, id string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(e.rootDir(), id, "egress", "audit.jsonl"))
	if err != nil {
		t.Fatalf("the egress audit: %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var en struct{ Decision, Method, Host, Path, Reason string }
		if json.Unmarshal(sc.Bytes(), &en) == nil {
			out = append(out, en.Decision+" "+en.Method+" "+en.Host+" "+en.Path+" ("+en.Reason+")")
		}
	}
	return out
}

// outsideCalls are requests a signed-in agent's CLI never makes, each
// "METHOD URL" (GET or POST), made from inside the bottle after the CLI's
// turn by the wrapper watchProcesses puts in (issue 20); by agent, and
// how it signs in when that changes them.
var outsideCalls = map[string][]string{
	// Signed in with a long-lived token, Claude Code has no token endpoint.
	"claude-token": {"POST https://api.anthropic.com/api/oauth/claude_cli/create_api_key", "GET https://api.anthropic.com/v1/files"},
	"claude": {"POST https://api.anthropic.com/api/oauth/claude_cli/create_api_key", "GET https://api.anthropic.com/v1/files",
		"POST https://platform.claude.com/v1/oauth/token/"},
	"codex": {"GET https://chatgpt.com/backend-api/conversations", "POST https://chatgpt.com/backend-api/wham/tasks",
		"POST https://auth.openai.com/oauth/token/"},
	"gemini": {"GET https://www.googleapis.com/storage/v1/b?project=p", "POST https://cloudcode-pa.googleapis.com/v1/projects/p:run",
		"POST https://oauth2.googleapis.com/token/"},
}

// outsideScript is the shell lines that make an agent's outside calls with
// the probe, appending what each got to /workspace/.bottle-outside.
func outsideScript(agent string) string {
	var b strings.Builder
	for _, c := range outsideCalls[agent] {
		method, u, _ := strings.Cut(c, " ")
		if method == "POST" {
			b.WriteString("/bin/probe post '" + u + "' '{}' 'Authorization: Bearer placeholder' >> /workspace/.bottle-outside 2>&1\n")
		} else {
			b.WriteString("/bin/probe get '" + u + "' 'Authorization: Bearer placeholder' >> /workspace/.bottle-outside 2>&1\n")
		}
	}
	return b.String()
}

// assertSigninNarrowed checks a signed-in bottle's run (issue 20; agent
// names its outside calls): every
// call the agent's CLI made on the sign-in's hosts was carried, but those
// in refusedToo; each outside call was refused with a 403 that names its
// host, method and path; seen is every path the stand-ins were sent, and
// holds none of the outside calls.
func assertSigninNarrowed(t *testing.T, e *env, id, agent string, hosts, refusedToo, seen []string) {
	t.Helper()
	calls := egressCalls(t, e, id)
	for _, c := range calls {
		t.Logf("egress: %s", c)
	}
	outside := func(c string) bool {
		return slices.ContainsFunc(outsideCalls[agent], func(o string) bool {
			method, raw, _ := strings.Cut(o, " ")
			u, _ := url.Parse(raw)
			return strings.HasPrefix(c, "deny "+method+" "+u.Hostname()+" ")
		})
	}
	for _, c := range calls {
		f := strings.Fields(c)
		if f[0] != "allow" && slices.Contains(hosts, f[2]) && !outside(c) && !slices.ContainsFunc(refusedToo, func(r string) bool { return strings.HasPrefix(c, "deny "+r+" ") }) {
			t.Errorf("the agent's CLI made a call its sign-in does not carry: %s", c)
		}
	}
	data, err := os.ReadFile(filepath.Join(e.workdir, ".bottle-outside"))
	if err != nil {
		t.Fatalf("the outside calls were not made: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != len(outsideCalls[agent]) {
		t.Fatalf("outside calls: %q", lines)
	}
	for i, o := range outsideCalls[agent] {
		method, raw, _ := strings.Cut(o, " ")
		u, _ := url.Parse(raw)
		if !strings.HasPrefix(lines[i], "fail ") || !strings.Contains(lines[i], "status 403") || !strings.Contains(lines[i], method+" "+u.Path+" on "+u.Hostname()) {
			t.Errorf("%s from inside the bottle: %s; want a 403 naming its host, method and path", o, lines[i])
		}
		if strings.Contains(lines[i], "e2e-real") || strings.Contains(lines[i], "long-lived") {
			t.Errorf("%s: the refusal holds a token: %s", o, lines[i])
		}
		for _, s := range seen {
			if slices.Contains(strings.Fields(s), u.Path) {
				t.Errorf("%s reached the stand-in: %s", o, s)
			}
		}
	}
}
