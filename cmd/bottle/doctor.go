package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/engines"
	"github.com/bottle-sandbox/bottle/internal/signin"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/urfave/cli/v2"
)

func newDoctorCommand(g *globals) *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:  "doctor",
		Usage: "check what bottles need on this machine, and give the command that fixes what is missing",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the checks as JSON (each with its level: ok, info, warn or fail, and its fix)", Destination: &asJSON},
		},
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 0); err != nil {
				return err
			}
			return runDoctor(c.Context, g, asJSON)
		},
	}
}

// check is one finding: fail stops a bottle, a warning only narrows it,
// info is about what the person does not use.
type check = engines.Check

// usedRule says which profiles' credentials doctor holds the person to.
const usedRule = "a missing sign-in or credential fails only for the profiles you use: " + defaultAgent +
	" (what bottle start runs when it names none) and those your config files name; the others' are info"

// used says whether doctor holds the person to a profile's credentials
// (usedRule).
func used(cfg *config.Config, name string) bool {
	return name == defaultAgent || cfg.Named[name]
}

// doctorReport is doctor's JSON.
type doctorReport struct {
	OK     bool          `json:"ok"`
	Rule   string        `json:"rule"`
	Checks []doctorCheck `json:"checks"`
}

type doctorCheck struct {
	Check  string `json:"check"`
	Level  string `json:"level"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// doctorExit is doctor's outcome: exit 1 when a check fails; info and
// warnings leave it 0.
func doctorExit(checks []check) error {
	for _, c := range checks {
		if c.Fail {
			return lifecycle.ExitError(1)
		}
	}
	return nil
}

func runDoctor(ctx context.Context, g *globals, asJSON bool) error {
	var checks []check
	add := func(c check) { checks = append(checks, c) }

	checks = append(checks, engines.Doctor(ctx)...)
	if root, err := state.DefaultRoot(); err != nil {
		add(check{What: "state", Detail: err.Error(), Fix: `export HOME="$(getent passwd "$(id -un)" | cut -d: -f6)"`, Fail: true})
	} else if err := writable(root.Dir); err != nil {
		add(check{What: "state", Detail: err.Error(), Fix: `sudo install -d -o "$(id -un)" -m 700 ` + engines.ShellWord(root.Dir), Fail: true})
	} else {
		add(check{What: "state", Detail: root.Dir + " is writable"})
	}
	cfg, _, err := loadHere(g)
	if err != nil {
		add(check{What: "config", Detail: err.Error(), Fix: configFix(err), Fail: true})
	} else {
		add(check{What: "config", Detail: fmt.Sprintf("%d profiles from %s", len(cfg.Agents), strings.Join(append([]string{"the built-in defaults"}, cfg.Files...), ", "))})
		checks = append(checks, engines.DoctorClusters(ctx, cfg)...)
		for _, name := range cfg.Names() {
			checks = append(checks, heldTo(credentialChecks(cfg.Agents[name]), used(cfg, name))...)
		}
	}
	if asJSON {
		r := doctorReport{OK: doctorExit(checks) == nil, Rule: usedRule, Checks: []doctorCheck{}}
		for _, c := range checks {
			r.Checks = append(r.Checks, doctorCheck{Check: c.What, Level: c.Level(), Detail: c.Detail, Fix: c.Fix})
		}
		if err := printIndented(g.stdout, r); err != nil {
			return err
		}
		return doctorExit(checks)
	}
	for _, c := range checks {
		mark := c.Level()
		if c.Fail {
			mark = "FAIL"
		}
		// A detail of several lines (the config's problems) stays in its column.
		fmt.Fprintf(g.stdout, "%-4s %-10s %s\n", mark, c.What, strings.ReplaceAll(c.Detail, "\n", "\n"+strings.Repeat(" ", 16)))
		if c.Fix != "" && c.Level() != "ok" {
			fmt.Fprintf(g.stdout, "     %-10s fix: %s\n", "", c.Fix)
		}
	}
	fmt.Fprintf(g.stdout, "\n%s.\n", capital(usedRule))
	return doctorExit(checks)
}

func writable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// signinFix is the command that signs a person in with an agent on this
// machine, for bottle to take the sign-in from.
var signinFix = map[string]string{
	"claude": "claude auth login",
	"codex":  "codex login",
	"gemini": "gemini  # it asks how to sign in at its first start: choose Login with Google",
}

// heldTo is a profile's credential checks for a person who uses it or
// not (usedRule): what is missing fails for a profile the person uses, and
// is info for another.
func heldTo(checks []check, used bool) []check {
	for i := range checks {
		if checks[i].Fail && !used {
			checks[i].Fail, checks[i].Info = false, true
		}
	}
	return checks
}

// credentialChecks say, per profile, whether each credential it injects or
// hands the git gate is there on the host; never what it is.
func credentialChecks(a *config.Agent) []check {
	var out []check
	what := "profile " + a.Name
	source := func(env, file string, command []string) (string, string) {
		switch {
		case env != "":
			if os.Getenv(env) == "" {
				return "$" + env + " is not set", "read -rs " + env + " && export " + env + "  # paste the value, then Enter; in the shell you run bottle start from"
			}
			return "$" + env + " is set", ""
		case file != "":
			f, err := os.Open(expandHome(file))
			if err != nil {
				return file + ": " + err.Error(), "(umask 077 && cat > " + engines.ShellWord(expandHome(file)) + ")  # paste the credential, then ctrl-d"
			}
			f.Close()
			return file + " is readable", ""
		case len(command) > 0:
			if _, err := exec.LookPath(command[0]); err != nil {
				return "command " + command[0] + " is not on PATH", engines.Install(command[0]) + "  # or name another command in from_command"
			}
			return "command " + command[0] + " is on PATH", ""
		}
		return "", ""
	}
	if a.Signin != nil {
		home, _ := os.UserHomeDir()
		if _, ch, err := signin.Apply(a, signin.Host{Getenv: os.Getenv, Home: home}); err != nil {
			out = append(out, check{What: what, Detail: "signin: " + strings.TrimPrefix(err.Error(), "profile "+a.Name+": "), Fix: signinFixOf(a.Signin.Agent), Fail: true})
		} else if ch != nil {
			out = append(out, check{What: what, Detail: fmt.Sprintf("signin %s: %s from %s", a.Signin.Agent, ch.Use, ch.Source)})
		}
	}
	for _, r := range a.Egress {
		if c := r.Credential; c != nil {
			detail, fix := source(c.FromEnv, c.FromFile, c.FromCommand)
			out = append(out, check{What: what, Detail: fmt.Sprintf("%s for %s: %s", c.Carrier(), r.Host, detail), Fix: fix, Fail: fix != ""})
		}
	}
	if a.Git != nil {
		for name, r := range a.Git.Remotes {
			if r.TokenEnv != "" || r.TokenFile != "" {
				detail, fix := source(r.TokenEnv, r.TokenFile, nil)
				out = append(out, check{What: what, Detail: "git remote " + name + " token: " + detail, Fix: fix, Fail: fix != ""})
			}
			if r.SSHKey != "" {
				detail, fix := source("", r.SSHKey, nil)
				out = append(out, check{What: what, Detail: "git remote " + name + " SSH key: " + detail, Fix: fix, Fail: fix != ""})
			}
		}
	}
	return out
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

func signinFixOf(agent string) string {
	if fix, ok := signinFix[agent]; ok {
		return fix
	}
	return agent + "  # sign in as it asks"
}

// configFix opens the first config file with a problem in the person's
// editor, and checks them all again once it is saved.
func configFix(err error) string {
	var ce *config.Error
	if errors.As(err, &ce) && ce.File != "" {
		return "${EDITOR:-vi} " + engines.ShellWord(ce.File) + " && bottle config validate"
	}
	return "bottle config validate"
}
