//go:build e2e

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// standIn is profile name, extending agent (the real CLI, built from the
// image laid out in NAMEimg), with 1g of memory and the lines extra says,
// whose routes to hosts all go to one stand-in server on loopback.
func standIn(name, agent, extra, upstream, ca string, hosts ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n[agents.%s]\nextends = %q\ncontainerfile = \"%simg/Containerfile\"\nmemory = \"1g\"\n%s", name, agent, name, extra)
	for _, h := range hosts {
		fmt.Fprintf(&b, "[[agents.%s.egress]]\nhost = %q\nports = [443]\nupstream = %q\nupstream_ca = %q\n", name, h, upstream, ca)
	}
	return b.String()
}

// The hosts the stand-ins answer for each agent's sign-in.
var (
	claudeHosts = []string{"api.anthropic.com", "platform.claude.com"}
	codexHosts  = []string{"chatgpt.com", "auth.openai.com"}
	geminiHosts = []string{"cloudcode-pa.googleapis.com", "www.googleapis.com", "oauth2.googleapis.com"}
)

// signedIn gives e a home of its own holding the person's login for
// agent (claude, codex or gemini), its access token run out, and returns
// the login file's path.
func signedIn(t *testing.T, e *env, agent string) string {
	t.Helper()
	home := filepath.Join(e.dir, "home")
	var rel, data string
	switch agent {
	case "claude":
		rel = ".claude/.credentials.json"
		data = `{"claudeAiOauth":{"accessToken":"sk-ant-oat01-e2e-real-0","refreshToken":"sk-ant-ort01-e2e-real-0","expiresAt":1000,"scopes":["user:inference","user:profile","user:sessions:claude_code"],"subscriptionType":"max"}}`
	case "codex":
		rel = ".codex/auth.json"
		old := time.Now().Add(-time.Hour)
		data = fmt.Sprintf(`{"OPENAI_API_KEY":null,"tokens":{"id_token":%q,"access_token":%q,"refresh_token":"rt-e2e-real-0","account_id":"acct-e2e"},"last_refresh":%q}`,
			chatgptJWT("e2e-real-id-0", old), chatgptJWT("e2e-real-access-0", old), old.UTC().Format(time.RFC3339))
	case "gemini":
		rel = ".gemini/oauth_creds.json"
		data = `{"access_token":"ya29.e2e-real-0","refresh_token":"1//e2e-real-refresh","scope":"https://www.googleapis.com/auth/cloud-platform","token_type":"Bearer","expiry_date":1000}`
	default:
		t.Fatalf("no login for %s", agent)
	}
	file := filepath.Join(home, rel)
	os.MkdirAll(filepath.Dir(file), 0o700)
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	e.extraEnv = append(e.extraEnv, "HOME="+home)
	return file
}
