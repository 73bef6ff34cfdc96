//go:build e2e

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A dry run previews a Claude Code bottle for a person with no sign-in on
// this machine (a HOME of the test's own, no key in the environment):
// the preview is printed whole, the sign-in row says what is missing and
// how to put it right, the image row what a start would build and from
// where, and the exit code is 1 with one line naming the rows. Rootful, in
// a folder of root's, the user row says why a start would refuse it.
func TestDryRunPreviewsWhatIsMissing(t *testing.T) {
	e := newEnv(t, "")
	home := filepath.Join(e.dir, "home")
	os.MkdirAll(home, 0o755)
	e.extraEnv = append(e.extraEnv, "HOME="+home, "ANTHROPIC_API_KEY=", "CLAUDE_CODE_OAUTH_TOKEN=")
	rows := "signin"
	if !rootless() {
		os.Chown(e.workdir, 0, 0)
		rows = "signin, user"
	}
	out, errs, code := e.run("start", "--dry-run", "claude")
	if code != 1 || strings.TrimSpace(errs) != "bottle: dry run: a start would stop here, at what the preview marks MISSING ("+rows+")" {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	want := []string{"  agent      claude: claude ", "  signin     MISSING: profile claude: no sign-in for claude on this machine: set ANTHROPIC_API_KEY",
		"  egress     api.anthropic.com:443", "  resources  ",
		"(built from bottle's built-in claude.Containerfile)", "  mount      <bottle>/agent/home -> /home/bottle\n"}
	if !rootless() {
		want = append(want, "  user       MISSING: "+e.workdir+" belongs to root and rootful Podman would run the agent as root to write it")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("the preview lacks %q:\n%s", w, out)
		}
	}
	if !strings.Contains(out, "; present\n") && !strings.Contains(out, "; not built yet: a start builds it") {
		t.Errorf("the image row does not say whether the image is there or is built:\n%s", out)
	}
	e.assertClean()
	assertPathsExist(t, e.state, out)
	// The same preview as JSON names no more than the text.
	jout, _, _ := e.run("start", "--dry-run", "--json", "claude")
	assertPathsExist(t, e.state, jout)
	e.assertClean()
}

// assertPathsExist fails for every path under dir (the state root) a
// preview names that is not there once the dry run is over: a dry run
// shows nothing that does not exist after it.
func assertPathsExist(t *testing.T, dir, out string) {
	t.Helper()
	for _, f := range strings.FieldsFunc(out, func(r rune) bool { return strings.ContainsRune(" \t\n\"(),;=", r) }) {
		p := strings.TrimRight(f, ":.")
		if !strings.HasPrefix(p, dir+"/") {
			continue
		}
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("the dry run names %s, which is not there after it:\n%s", p, out)
		}
	}
}
