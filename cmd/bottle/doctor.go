package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/signin"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/pod"
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
type check struct {
	what, detail, fix string
	fail, warn        bool
}

func runDoctor(ctx context.Context, g *globals) error {
	var checks []check
	add := func(c check) { checks = append(checks, c) }

	if conn, err := pod.Find(ctx); err != nil {
		fix := "start one: systemctl --user enable --now podman.socket (or podman system service --time=0 &)"
		if _, lerr := exec.LookPath("podman"); lerr != nil {
			fix = "install Podman (Debian/Ubuntu: apt-get install podman; Fedora: dnf install podman), then start its service"
		}
		add(check{what: "podman", detail: "no service answers: " + err.Error(), fix: fix, fail: true})
	} else {
		info := conn.Info()
		add(check{what: "podman", detail: fmt.Sprintf("%s %s at %s (%s)", info.Name, info.Version, conn.URI, info.Where)})
		conn.Close()
	}
	if os.Geteuid() != 0 {
		checks = append(checks, rootlessChecks()...)
	}
	if err := pod.CheckRuntime("runsc"); err != nil {
		add(check{what: "runsc", detail: "gVisor is not registered with Podman: only profiles with runtime = \"runsc\" need it", fix: err.Error(), warn: true})
	} else {
		add(check{what: "runsc", detail: "gVisor is registered with Podman"})
	}
	if root, err := state.DefaultRoot(); err != nil {
		add(check{what: "state", detail: err.Error(), fix: "set XDG_STATE_HOME or HOME", fail: true})
	} else if err := writable(root.Dir); err != nil {
		add(check{what: "state", detail: err.Error(), fix: "make " + root.Dir + " a folder you can write", fail: true})
	} else {
		add(check{what: "state", detail: root.Dir + " is writable"})
	}
	cfg, _, err := loadHere(g)
	if err != nil {
		add(check{what: "config", detail: err.Error(), fix: "fix the file named above (bottle config validate)", fail: true})
	} else {
		add(check{what: "config", detail: fmt.Sprintf("%d profiles from %s", len(cfg.Agents), strings.Join(append([]string{"the built-in defaults"}, cfg.Files...), ", "))})
		for _, name := range cfg.Names() {
			checks = append(checks, credentialChecks(cfg.Agents[name])...)
		}
	}
	failed := false
	for _, c := range checks {
		mark := "ok  "
		switch {
		case c.fail:
			mark, failed = "FAIL", true
		case c.warn:
			mark = "warn"
		}
		fmt.Fprintf(g.stdout, "%s %-10s %s\n", mark, c.what, c.detail)
		if c.fix != "" && (c.fail || c.warn) {
			fmt.Fprintf(g.stdout, "     %-10s fix: %s\n", "", c.fix)
		}
	}
	if failed {
		return lifecycle.ExitError(1)
	}
	return nil
}

// rootlessChecks are what rootless Podman needs of the machine.
func rootlessChecks() []check {
	var out []check
	name := fmt.Sprint(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		data, _ := os.ReadFile(f)
		if !hasRange(string(data), name, fmt.Sprint(os.Getuid())) {
			out = append(out, check{what: "rootless", detail: f + " gives " + name + " no range of ids", fix: "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 " + name, fail: true})
		}
	}
	if f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0); err != nil {
		out = append(out, check{what: "rootless", detail: "/dev/net/tun: " + err.Error(), fix: "chmod 666 /dev/net/tun (rootless networking needs it)", fail: true})
	} else {
		f.Close()
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		out = append(out, check{what: "limits", detail: "this machine has no unified cgroup (v2): rootless Podman cannot enforce memory, cpus or pids", fix: "boot with systemd.unified_cgroup_hierarchy=1, or run bottles rootful", warn: true})
	}
	if len(out) == 0 {
		out = append(out, check{what: "rootless", detail: "subordinate ids, /dev/net/tun and cgroup v2 are there"})
	}
	return out
}

func hasRange(file, name, uid string) bool {
	for _, line := range strings.Split(file, "\n") {
		if who, _, ok := strings.Cut(line, ":"); ok && (who == name || who == uid) {
			return true
		}
	}
	return false
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
			out = append(out, check{what: what, detail: "signin: " + strings.TrimPrefix(err.Error(), "profile "+a.Name+": "), fix: "sign in one of those ways on this machine", fail: true})
		} else if ch != nil {
			out = append(out, check{what: what, detail: fmt.Sprintf("signin %s: %s from %s", a.Signin.Agent, ch.Use, ch.Source)})
		}
	}
	for _, r := range a.Egress {
		if c := r.Credential; c != nil {
			detail, fix := source(c.FromEnv, c.FromFile, c.FromCommand)
			out = append(out, check{what: what, detail: fmt.Sprintf("%s for %s: %s", c.Carrier(), r.Host, detail), fix: fix, fail: fix != ""})
		}
	}
	if a.Git != nil {
		for name, r := range a.Git.Remotes {
			if r.TokenEnv != "" || r.TokenFile != "" {
				detail, fix := source(r.TokenEnv, r.TokenFile, nil)
				out = append(out, check{what: what, detail: "git remote " + name + " token: " + detail, fix: fix, fail: fix != ""})
			}
			if r.SSHKey != "" {
				detail, fix := source("", r.SSHKey, nil)
				out = append(out, check{what: what, detail: "git remote " + name + " SSH key: " + detail, fix: fix, fail: fix != ""})
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
