package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/config"
)

// TestCopySetupTakesSettingsNotLogins: the person's agent setup comes into
// the bottle's home; a link, a login file, a key's name, and a file that
// holds a key (a settings file's env) stay out, the last two said.
func TestCopySetupTakesSettingsNotLogins(t *testing.T) {
	host := t.TempDir()
	write := func(rel, data string) {
		p := filepath.Join(host, rel)
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, []byte(data), 0o600)
	}
	write(".claude/CLAUDE.md", "be brief")
	write(".claude/commands/review.md", "review the diff")
	write(".claude/commands/deep/fix.md", "fix it")
	write(".claude/.credentials.json", `{"claudeAiOauth":{}}`)
	write(".claude/settings.json", `{"env":{"GITHUB_TOKEN":"ghp_`+strings.Repeat("aB3dE6gH9j", 3)+`kLmNoP"}}`)
	write(".claude/commands/.env", "X=1")
	write("secret.txt", "not for the bottle")
	os.Symlink(filepath.Join(host, "secret.txt"), filepath.Join(host, ".claude/commands/link.md"))
	os.Symlink(filepath.Join(host, "secret.txt"), filepath.Join(host, ".claude/agents"))

	state := t.TempDir()
	in := Input{Agent: &config.Agent{Name: "c", Profile: config.Profile{Workspace: config.WorkspaceCopy}}, StateDir: state, Workdir: t.TempDir(), Host: Host{Rootless: true, UID: os.Getuid(), GID: os.Getgid()}}
	copied, skipped, err := CopySetup(in, host, []string{".claude/CLAUDE.md", ".claude/settings.json", ".claude/commands", ".claude/agents", ".claude/skills", ".claude/.credentials.json"})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(copied)
	if want := []string{".claude/CLAUDE.md", ".claude/commands/deep/fix.md", ".claude/commands/review.md"}; !slices.Equal(copied, want) {
		t.Errorf("copied %q, want %q", copied, want)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "settings.json") || !strings.Contains(skipped[0], "github-token") {
		t.Errorf("skipped %q, want the settings file that holds a token", skipped)
	}
	home := HomeDir(state)
	filepath.Walk(home, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), "not for the bottle") || strings.Contains(string(b), "claudeAiOauth") || strings.Contains(string(b), "ghp_") {
				t.Errorf("%s came in", p)
			}
		}
		return nil
	})
}

func TestMergeHomeJSON(t *testing.T) {
	got := string(MergeHomeJSON([]byte(`{"theme":"dark","mcpServers":{"mine":{"command":"x"}},"telemetry":{"enabled":true}}`),
		[]byte(`{"mcpServers":{"bottle":{"httpUrl":"u"}},"telemetry":{"enabled":false}}`)))
	for _, want := range []string{`"theme": "dark"`, `"mine"`, `"bottle"`, `"enabled": false`} {
		if !strings.Contains(got, want) {
			t.Errorf("merged %s, want %s in it", got, want)
		}
	}
	if got := string(MergeHomeJSON([]byte("not json"), []byte(`{"a":1}`))); got != `{"a":1}` {
		t.Errorf("over a file that is not JSON: %s", got)
	}
}
