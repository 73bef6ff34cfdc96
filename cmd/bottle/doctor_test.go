package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/lifecycle"
)

// TestDoctorHoldsThePersonToWhatTheyUse: with no sign-in at all, the
// default agent's fails and the built-in profiles the person never named
// are info, which leave the exit code alone; a profile the person's config
// names fails.
func TestDoctorHoldsThePersonToWhatTheyUse(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, k := range []string{"ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"} {
		t.Setenv(k, "")
	}
	levels := func(user string) map[string]string {
		t.Helper()
		file := filepath.Join(home, "config.toml")
		if err := os.WriteFile(file, []byte(user), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(config.Sources{User: file})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, name := range []string{"claude", "codex", "gemini"} {
			cs := heldTo(credentialChecks(cfg.Agents[name]), used(cfg, name))
			if len(cs) != 1 {
				t.Fatalf("%s: %d checks: %+v", name, len(cs), cs)
			}
			if cs[0].Fix != signinFix[name] {
				t.Errorf("%s's fix is %q, not the command %q", name, cs[0].Fix, signinFix[name])
			}
			out[name] = cs[0].Level()
		}
		return out
	}
	if got := levels(""); got["claude"] != "fail" || got["codex"] != "info" || got["gemini"] != "info" {
		t.Errorf("no config of the person's: %v", got)
	}
	if got := levels("[agents.codex]\nmemory = \"2g\"\n"); got["codex"] != "fail" || got["gemini"] != "info" {
		t.Errorf("a config that names codex: %v", got)
	}
}

func TestDoctorExitsOneOnlyOnAFailure(t *testing.T) {
	for _, tc := range []struct {
		checks []check
		fails  bool
	}{
		{[]check{{What: "podman"}, {What: "profile codex", Info: true}, {What: "runsc", Warn: true}}, false},
		{[]check{{What: "podman"}, {What: "profile claude", Fail: true}}, true},
		{nil, false},
	} {
		err := doctorExit(tc.checks)
		if code, ok := err.(lifecycle.ExitError); tc.fails != (ok && code == 1) || (!tc.fails && err != nil) {
			t.Errorf("%+v: %v", tc.checks, err)
		}
	}
}

// TestDoctorFixesAreCommands: each fix doctor gives for a profile or a
// config is a command a shell takes as written (bash -n), never prose to
// act on; a path in it is one shell word, whatever it holds.
func TestDoctorFixesAreCommands(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("E2E_DOCTOR_UNSET", "")
	file := filepath.Join(home, "config.toml")
	os.WriteFile(file, []byte(strings.ReplaceAll(`
[agents.claude]
[[agents.claude.egress]]
host = "a.example.test"
[agents.claude.egress.credential]
header = "x-key"
from_env = "E2E_DOCTOR_UNSET"
[[agents.claude.egress]]
host = "b.example.test"
[agents.claude.egress.credential]
header = "x-key"
from_file = "HOME/it's a key"
[[agents.claude.egress]]
host = "c.example.test"
[agents.claude.egress.credential]
header = "x-key"
from_command = ["no-such-tool-e2e", "get"]
`, "HOME", home)), 0o600)
	cfg, err := config.Load(config.Sources{User: file})
	if err != nil {
		t.Fatal(err)
	}
	fixes := []string{configFix(&config.Error{File: "/tmp/a b/bottle.toml", Line: 3, Msg: "x"}), configFix(errors.New("no file"))}
	for _, c := range credentialChecks(cfg.Agents["claude"]) {
		if c.Fail {
			fixes = append(fixes, c.Fix)
		}
	}
	for _, f := range signinFix {
		fixes = append(fixes, f)
	}
	if len(fixes) != 9 { // two for the config, four for claude (its sign-in too), three sign-ins
		t.Fatalf("%d fixes: %q", len(fixes), fixes)
	}
	for _, f := range fixes {
		if out, err := exec.Command("bash", "-n", "-c", f).CombinedOutput(); err != nil {
			t.Errorf("%q is not a command: %v %s", f, err, out)
		}
		for _, prose := range []string{"install ", "set ", "make ", "put ", "fix ", "boot ", "mend "} {
			if strings.HasPrefix(f, prose) {
				t.Errorf("%q is prose", f)
			}
		}
	}
	if want := `(umask 077 && cat > '` + home + `/it'\''s a key')`; !strings.Contains(strings.Join(fixes, "\n"), want) {
		t.Errorf("no fix writes the file as one word %s: %q", want, fixes)
	}
}
