//go:build e2e

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDoctorPassesWithOnlyClaudeSignedIn: a person signed in with Claude
// alone (a test HOME with only Claude Code's credentials file) gets exit 0
// from bottle doctor: Codex's and Gemini's missing sign-ins are info, each
// with the command that signs in, in the text and in --json. A profile the
// person's config names is held to its sign-in.
func TestDoctorPassesWithOnlyClaudeSignedIn(t *testing.T) {
	onlyClaude := func(e *env) {
		home := filepath.Join(e.dir, "home")
		os.MkdirAll(filepath.Join(home, ".claude"), 0o700)
		os.WriteFile(filepath.Join(home, ".claude", ".credentials.json"), []byte(`{"claudeAiOauth":{"accessToken":"sk-ant-oat01-e2e-doctor-0","refreshToken":"sk-ant-ort01-e2e-doctor-0","expiresAt":1000,"scopes":["user:inference"],"subscriptionType":"max"}}`), 0o600)
		e.extraEnv = []string{"HOME=" + home, "ANTHROPIC_API_KEY=", "CLAUDE_CODE_OAUTH_TOKEN=", "OPENAI_API_KEY=", "GEMINI_API_KEY=", "GOOGLE_API_KEY="}
	}
	e := newEnv(t, "")
	onlyClaude(e)
	out, errs, code := e.run("doctor")
	if code != 0 || !strings.Contains(out, "ok   profile claude") || !strings.Contains(out, "info profile codex") ||
		!strings.Contains(out, "fix: codex login") || !strings.Contains(out, "info profile gemini") || strings.Contains(out, "FAIL") ||
		!strings.Contains(out, "fails only for the profiles you use") || strings.Contains(out, "e2e-doctor") {
		t.Errorf("doctor with only Claude signed in: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = e.run("doctor", "--json")
	var r doctorReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || !r.OK || r.Rule == "" {
		t.Fatalf("doctor --json: exit %d, %v\n%s%s", code, err, out, errs)
	}
	levels := map[string]doctorCheck{}
	for _, c := range r.Checks {
		levels[c.Check] = c
	}
	if c := levels["profile codex"]; c.Level != "info" || c.Fix != "codex login" {
		t.Errorf("doctor --json's codex: %+v", c)
	}
	if c := levels["profile claude"]; c.Level != "ok" || c.Fix != "" {
		t.Errorf("doctor --json's claude: %+v", c)
	}
	// A person whose config names codex uses it: its missing sign-in fails.
	named := newEnv(t, "\n[agents.codex]\nmemory = \"2g\"\n")
	onlyClaude(named)
	if out, errs, code := named.run("doctor"); code != 1 || !strings.Contains(out, "FAIL profile codex") || !strings.Contains(out, "fix: codex login") {
		t.Errorf("doctor with codex named in the config: exit %d\n%s%s", code, out, errs)
	}
}
