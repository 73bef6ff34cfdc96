package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/state"
)

// A mistyped option or argument is one line on stderr, in the command's
// terms (the option as the person typed it), naming the command's help:
// no page of help on stdout, where a pipe to jq would take it.
func TestUsageErrorsAreOneLine(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"ls", "--bogus"}, "bottle: unknown option --bogus (see bottle ls --help)\n"},
		{[]string{"start", "shell", "--bogus"}, "bottle: unknown option --bogus (see bottle start --help)\n"},
		{[]string{"start", "-z"}, "bottle: unknown option -z (see bottle start --help)\n"},
		{[]string{"--bogus", "ls"}, "bottle: unknown option --bogus (see bottle --help)\n"},
		{[]string{"config", "show", "--bogus"}, "bottle: unknown option --bogus (see bottle config show --help)\n"},
		{[]string{"start", "--engine"}, "bottle: option --engine needs a value (see bottle start --help)\n"},
		{[]string{"port", "shell-abcde", "http"}, "bottle: PORT: \"http\" is not a port (1 to 65535)\n"},
		{[]string{"inspect", "shell-abcde"}, "bottle: no bottle \"shell-abcde\" (there are none)\n"},
		{[]string{"config", "show", "nope"}, "bottle: no agent profile \"nope\" (known: claude, codex, gemini, shell)\n"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errs, code := runCLI(t, "", tc.args...)
			if code != exitFailure || out != "" || errs != tc.want {
				t.Errorf("exit %d, stdout %q, stderr %q; want 125, nothing, %q", code, out, errs, tc.want)
			}
		})
	}
}

// Completion offers the bottles to every command that takes one, and a
// bottle's services to bottle logs after it.
func TestCompletionOffersBottlesAndServices(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	b := &state.Bottle{ID: "t-abcde", Dir: filepath.Join(dir, "bottle", "t-abcde")}
	if err := os.MkdirAll(b.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteMetadata(state.Metadata{Identity: b.ID, Agent: "t"}); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"attach", "inspect", "stats", "stop", "rm", "resume", "logs", "exec", "port"} {
		var out strings.Builder
		run(t.Context(), []string{"bottle", cmd, "--generate-bash-completion"}, strings.NewReader(""), &out, &out)
		if out.String() != "t-abcde\n" {
			t.Errorf("bottle %s <tab>: %q, want the bottle", cmd, out.String())
		}
	}
	// Commands that take several bottles offer the ones not named yet.
	other := &state.Bottle{ID: "t-fghij", Dir: filepath.Join(dir, "bottle", "t-fghij")}
	os.MkdirAll(other.Dir, 0o700)
	if err := other.WriteMetadata(state.Metadata{Identity: other.ID, Agent: "t"}); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"stop", "rm", "stats"} {
		var out strings.Builder
		run(t.Context(), []string{"bottle", cmd, "t-abcde", "--generate-bash-completion"}, strings.NewReader(""), &out, &out)
		if out.String() != "t-fghij\n" {
			t.Errorf("bottle %s t-abcde <tab>: %q, want the other bottle", cmd, out.String())
		}
	}
	var out strings.Builder
	run(t.Context(), []string{"bottle", "logs", "t-abcde", "--generate-bash-completion"}, strings.NewReader(""), &out, &out)
	if want := "agent\negress\ngateway\ngit-gate\nsupervise\n"; out.String() != want {
		t.Errorf("bottle logs ID <tab>: %q, want %q", out.String(), want)
	}
}

// A shell bottle writes no completion for is named as such, in one line.
func TestCompletionOfAnotherShell(t *testing.T) {
	var out strings.Builder
	run(t.Context(), []string{"bottle", "completion", "tcsh"}, strings.NewReader(""), &out, &out)
	if got := strings.TrimSpace(out.String()); got != "bottle: completion: bottle completes bash, zsh and fish, not tcsh" {
		t.Errorf("bottle completion tcsh: %q", got)
	}
}
