//go:build e2e

package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

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
	e := newEnv(t, standIn("gm", "gemini", "", g.URL, g.CAFile, geminiHosts...))
	geminiImage(t, filepath.Join(e.dir, "gmimg"))
	watchProcesses(t, filepath.Join(e.dir, "gmimg"), "/usr/local/bin/gemini", "gemini")
	hostFile := signedIn(t, e, "gemini")

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
