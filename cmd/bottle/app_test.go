package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/state"
)

// runCLI runs the whole CLI in-process, in a temporary home and working directory.
func runCLI(t *testing.T, config string, args ...string) (string, string, int) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	t.Setenv("BOTTLE_CONFIG", "")
	t.Chdir(dir)
	if config != "" {
		os.MkdirAll(filepath.Join(dir, "config", "bottle"), 0o755)
		os.WriteFile(filepath.Join(dir, "config", "bottle", "config.toml"), []byte(config), 0o644)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"bottle"}, args...), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestCLI(t *testing.T) {
	cases := []struct {
		name     string
		config   string
		args     []string
		code     int
		stdout   string // substring
		stderr   string // substring
		noStdout bool
	}{
		{name: "version", args: []string{"--version"}, stdout: "bottle version dev"}, // bottle version asks Podman: e2e
		{name: "validate defaults", args: []string{"config", "validate"}, stdout: "ok: 4 profiles [claude codex gemini shell] from built-in defaults only"},
		{name: "validate user file", config: "[agents.x]\nextends = \"shell\"\n", args: []string{"config", "validate"}, stdout: "ok: 5 profiles [claude codex gemini shell x]"},
		{name: "validate bad", config: "[agents.x]\nextends = \"shell\"\nruntim = \"runsc\"\n", args: []string{"config", "validate"},
			code: exitFailure, stderr: `config.toml:3: agents.x.runtim: unknown key (did you mean "runtime"?)`, noStdout: true},
		{name: "show one", config: "[agents.x]\nextends = \"shell\"\nmemory = \"1g\"\n", args: []string{"config", "show", "x"},
			stdout: "[agents.x]\nimage = \"docker.io/library/debian:bookworm-slim\"\ncommand = [\"/bin/sh\"]\nworkspace = \"bind\"\nruntime = \"runc\"\nmemory = \"1g\""},
		{name: "show egress and git", config: "[agents.x]\nextends = \"shell\"\n[[agents.x.egress]]\nhost = \"example.com\"\n[agents.x.git.remotes.origin]\nurl = \"git@h:r.git\"\nmode = \"hold\"\n",
			args: []string{"config", "show", "x"}, stdout: "[[agents.x.egress]]\nhost = \"example.com\"\n[agents.x.git]\n[agents.x.git.remotes]\n[agents.x.git.remotes.origin]\nurl = \"git@h:r.git\"\nmode = \"hold\"\n"},
		{name: "git fetch unknown", args: []string{"git", "fetch", "shell-zzzzz"}, code: exitFailure, stderr: `no bottle "shell-zzzzz"`},
		{name: "show unknown", args: []string{"config", "show", "nope"}, code: exitFailure, stderr: `no agent profile "nope" (known: claude, codex, gemini, shell)`},
		{name: "start with bad config", config: "[agents.shell]\ncpus = \"many\"\n", args: []string{"start", "--yes", "shell"},
			code: exitFailure, stderr: `config.toml:2: agents.shell.cpus: must be a number, not a string "many"`, noStdout: true},
		{name: "flags after the agent", args: []string{"start", "nope", "-d", "--dry-run"}, code: exitFailure, stderr: `no agent profile "nope" (known: claude, codex, gemini, shell)`, noStdout: true},
		{name: "a flag's value after the agent", args: []string{"start", "shell", "--engine", "nope", "-y"}, code: exitFailure, stderr: `engine "nope"`, noStdout: true},
		{name: "a flag's value after the agent, with =", args: []string{"start", "shell", "--engine=nope"}, code: exitFailure, stderr: `engine "nope"`, noStdout: true},
		{name: "an unknown flag after the agent", args: []string{"start", "shell", "--bogus"}, code: exitFailure, stderr: "unknown option --bogus (see bottle start --help)", noStdout: true},
		{name: "a flag after a subcommand's argument", config: "[agents.x]\nextends = \"shell\"\nmemory = \"1g\"\n", args: []string{"config", "show", "x", "--debug"}, stdout: "memory = \"1g\""},
		{name: "help after the argument", args: []string{"start", "shell", "-h"}, stdout: "--detach, -d"},
		{name: "a subcommand's help after its argument", args: []string{"kube", "manifest", "claude", "--help"}, stdout: "--namespace NAMESPACE"},
		{name: "resume unknown", args: []string{"resume", "shell-zzzzz"}, code: exitFailure, stderr: `no bottle "shell-zzzzz" (there are none)`},
		{name: "resume nothing", args: []string{"resume"}, code: exitFailure, stderr: "name the bottle to resume"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runCLI(t, tc.config, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.code, errs)
			}
			if !strings.Contains(out, tc.stdout) {
				t.Errorf("stdout %q lacks %q", out, tc.stdout)
			}
			if !strings.Contains(errs, tc.stderr) {
				t.Errorf("stderr %q lacks %q", errs, tc.stderr)
			}
			if tc.noStdout && out != "" {
				t.Errorf("stdout should carry no result, got %q", out)
			}
			if tc.code != 0 && strings.Count(errs, "bottle:") != 1 {
				t.Errorf("the error should be printed once: %q", errs)
			}
		})
	}
}

func TestRequestsNeverPassTerminalEscapes(t *testing.T) {
	// What an agent writes reaches the person's terminal only as text.
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	b := &state.Bottle{ID: "t-abcde", Dir: filepath.Join(dir, "bottle", "t-abcde")}
	os.MkdirAll(b.Dir, 0o700)
	b.WriteMetadata(state.Metadata{Identity: b.ID, Agent: "t"})
	evil := "\x1b[2J\x1b[31mAPPROVE ME\x07\u202e\u202a\u2066\u200f\u009b"
	store := supervise.Store{Dir: filepath.Join(b.Dir, supervise.Service)}
	os.Mkdir(store.Dir, 0o700) // a bottle's start makes it
	store.Put(&supervise.Request{ID: supervise.NewID(), Kind: supervise.KindEgress, Host: "x.test" + evil, Ports: []int{443}, Reason: evil, Status: supervise.StatusPending, CreatedAt: time.Now()})
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"bottle", "requests"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("requests: %d %s", code, errb.String())
	}
	if strings.ContainsAny(out.String(), "\x1b\x07\u202e\u202a\u2066\u200f\u009b") || !strings.Contains(out.String(), "APPROVE ME") {
		t.Errorf("requests printed control characters: %q", out.String())
	}
	if got := printable("a\x1b[0mb\nc", true); got != "a?[0mb\nc" {
		t.Errorf("printable = %q", got)
	}
}

// bottle logs names a service that is none as such, with those there are,
// and -f after the bottle is the flag it is (it was taken for a service).
func TestLogsOfAServiceThatIsNone(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	b := &state.Bottle{ID: "shell-abcde", Dir: filepath.Join(dir, "bottle", "shell-abcde")}
	os.MkdirAll(b.Dir, 0o700)
	b.WriteMetadata(state.Metadata{Identity: b.ID, Agent: "shell"})
	for _, args := range [][]string{{"shell-abcde", "-f", "proxy"}, {"shell-abcde", "proxy", "-f"}, {"shell-abcde", "proxy", "--follow=true"}, {"-f", "shell-abcde", "proxy"}} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"bottle", "logs"}, args...), strings.NewReader(""), &out, &errb)
		want := `bottle: bottle shell-abcde has no service "proxy" (its services: agent, egress, gateway, git-gate, supervise)`
		if code != exitFailure || strings.TrimSpace(errb.String()) != want || out.Len() != 0 {
			t.Errorf("logs %q: exit code %d, stderr %q, want %q", args, code, errb.String(), want)
		}
	}
}

// A config's problems are all listed, one line each, in the config's terms.
func TestConfigProblemsAllListed(t *testing.T) {
	_, errs, code := runCLI(t, "[agents.x]\nextends = \"shell\"\nruntim = \"runsc\"\npids = \"9\"\n[[agents.x.egress]]\nhost = \"Example.com\"\n", "config", "validate")
	want := []string{
		"bottle: 3 problems in the config:",
		`config.toml:3: agents.x.runtim: unknown key (did you mean "runtime"?)`,
		`config.toml:4: agents.x.pids: must be a whole number, not a string "9"`,
		`config.toml:5: agents.x.egress: egress[0]: host "Example.com" must be a lower-case host name, or *.suffix`,
	}
	lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
	if code != exitFailure || len(lines) != len(want) {
		t.Fatalf("exit code %d, stderr:\n%s", code, errs)
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d %q, want it to end %q", i+1, lines[i], w)
		}
	}
}

// config show --json is the TOML's content with the same keys; start's
// --json goes with a dry run or a detached start only.
func TestConfigShowJSON(t *testing.T) {
	const cfg = "[agents.x]\nextends = \"shell\"\nmemory = \"1g\"\n[[agents.x.egress]]\nhost = \"example.com\"\nports = [443, 8443]\n"
	out, errs, code := runCLI(t, cfg, "config", "show", "x", "--json")
	if code != 0 {
		t.Fatalf("config show --json: %d %s", code, errs)
	}
	var got struct {
		Agents map[string]struct {
			Image  string `json:"image"`
			Memory string `json:"memory"`
			Egress []struct {
				Host  string `json:"host"`
				Ports []int  `json:"ports"`
			} `json:"egress"`
		} `json:"agents"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	x, ok := got.Agents["x"]
	if !ok || len(got.Agents) != 1 || x.Memory != "1g" || x.Image != "docker.io/library/debian:bookworm-slim" ||
		len(x.Egress) != 1 || x.Egress[0].Host != "example.com" || !slices.Equal(x.Egress[0].Ports, []int{443, 8443}) {
		t.Errorf("config show x --json: %+v\n%s", got, out)
	}
	if _, errs, code := runCLI(t, "", "start", "shell", "--json"); code != exitFailure || !strings.Contains(errs, "--json goes with --dry-run or --detach") {
		t.Errorf("start --json alone: %d %s", code, errs)
	}
}
