package main

import (
	"context"
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
	return &cli.Command{
		Name:  "doctor",
		Usage: "check what bottles need on this machine, and say how to fix what is missing",
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 0); err != nil {
				return err
			}
			return runDoctor(c.Context, g)
		},
	}
}

// check is one finding: fail stops a bottle, a warning only narrows it.
type check = engines.Check

func runDoctor(ctx context.Context, g *globals) error {
	var checks []check
	add := func(c check) { checks = append(checks, c) }

	checks = append(checks, engines.Doctor(ctx)...)
	if root, err := state.DefaultRoot(); err != nil {
		add(check{What: "state", Detail: err.Error(), Fix: "set XDG_STATE_HOME or HOME", Fail: true})
	} else if err := writable(root.Dir); err != nil {
		add(check{What: "state", Detail: err.Error(), Fix: "make " + root.Dir + " a folder you can write", Fail: true})
	} else {
		add(check{What: "state", Detail: root.Dir + " is writable"})
	}
	cfg, _, err := loadHere(g)
	if err != nil {
		add(check{What: "config", Detail: err.Error(), Fix: "fix the file named above (bottle config validate)", Fail: true})
	} else {
		add(check{What: "config", Detail: fmt.Sprintf("%d profiles from %s", len(cfg.Agents), strings.Join(append([]string{"the built-in defaults"}, cfg.Files...), ", "))})
		checks = append(checks, engines.DoctorClusters(ctx, cfg)...)
		for _, name := range cfg.Names() {
			checks = append(checks, credentialChecks(cfg.Agents[name])...)
		}
	}
	failed := false
	for _, c := range checks {
		mark := "ok  "
		switch {
		case c.Fail:
			mark, failed = "FAIL", true
		case c.Warn:
			mark = "warn"
		}
		// A detail of several lines (the config's problems) stays in its column.
		fmt.Fprintf(g.stdout, "%s %-10s %s\n", mark, c.What, strings.ReplaceAll(c.Detail, "\n", "\n"+strings.Repeat(" ", 16)))
		if c.Fix != "" && (c.Fail || c.Warn) {
			fmt.Fprintf(g.stdout, "     %-10s fix: %s\n", "", c.Fix)
		}
	}
	if failed {
		return lifecycle.ExitError(1)
	}
	return nil
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

// credentialChecks say, per profile, whether each credential it injects or
// hands the git gate is there on the host; never what it is.
func credentialChecks(a *config.Agent) []check {
	var out []check
	what := "profile " + a.Name
	source := func(env, file string, command []string) (string, string) {
		switch {
		case env != "":
			if os.Getenv(env) == "" {
				return "$" + env + " is not set", "export " + env + " before bottle start"
			}
			return "$" + env + " is set", ""
		case file != "":
			f, err := os.Open(expandHome(file))
			if err != nil {
				return file + ": " + err.Error(), "put the credential in " + file
			}
			f.Close()
			return file + " is readable", ""
		case len(command) > 0:
			if _, err := exec.LookPath(command[0]); err != nil {
				return "command " + command[0] + " is not on PATH", "install " + command[0] + " or change from_command"
			}
			return "command " + command[0] + " is on PATH", ""
		}
		return "", ""
	}
	if a.Signin != nil {
		home, _ := os.UserHomeDir()
		if _, ch, err := signin.Apply(a, signin.Host{Getenv: os.Getenv, Home: home}); err != nil {
			out = append(out, check{What: what, Detail: "signin: " + strings.TrimPrefix(err.Error(), "profile "+a.Name+": "), Fix: "sign in one of those ways on this machine", Fail: true})
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
