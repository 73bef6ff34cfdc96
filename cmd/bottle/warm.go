package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/engines"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/urfave/cli/v2"
)

// newWarmCommand is the warm bottles' keeper: bottle start runs it in the
// background after it claims one (or finds none) of a profile that keeps
// them (docs/warm.md says why there is no keeper that runs on).
func newWarmCommand(g *globals) *cli.Command {
	var after, engine, profile string
	var tty bool
	return &cli.Command{
		Name:   "warm",
		Hidden: true,
		Usage:  "recycle the warm bottles that no longer fit and make what each profile's pool lacks",
		Flags: []cli.Flag{&cli.StringFlag{Name: "after", Usage: "first wait (a minute at most) for this bottle's agent to run, or its launch to be over",
			Destination: &after},
			&cli.BoolFlag{Name: "tty", Usage: "make the agents ahead for a start on a terminal", Destination: &tty},
			&cli.StringFlag{Name: "engine", Usage: "keep the pools on this engine (podman or kubernetes; default podman): of the profiles whose engine it is, and of --profile",
				Destination: &engine},
			&cli.StringFlag{Name: "profile", Usage: "keep this profile's pool on --engine too (the start's that ran the keeper)", Destination: &profile}},
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 0); err != nil {
				return err
			}
			return runWarm(c.Context, g, after, tty, engine, profile)
		},
	}
}

// runWarm keeps the pools of the person's profiles, as their own config
// says them: no working directory's file is read.
// A warm bottle's agent, when made ahead, is made for a start from the
// keeper's working directory (the start's that ran it), on a terminal when
// tty says that start had one.
// The pools kept are those on one engine (a warm bottle is claimed on the
// engine it was made on): of each profile whose engine it is, and of the
// profile a start ran the keeper for when that start named the engine.
func runWarm(ctx context.Context, g *globals, after string, tty bool, engine, profile string) error {
	target, err := engines.Choose(engine, "")
	if err != nil {
		return err
	}
	src, err := config.DefaultSources(g.config, "")
	if err != nil {
		return err
	}
	src.Workdir = ""
	cfg, err := config.Load(src)
	if err != nil {
		return err
	}
	var agents []*config.Agent
	for _, name := range cfg.Names() {
		a := cfg.Agents[name]
		if own, err := engines.Choose("", a.Engine); err == nil && own == target || name == profile {
			agents = append(agents, a)
		}
	}
	route := func(root state.Root) *engines.Router { return engines.New(ctx, root, cfg, target) }
	return withRouter(ctx, g, true, route, func(env lifecycle.Env) error {
		env.TTY = tty
		if after != "" {
			if err := lifecycle.AwaitStarted(ctx, env, after, time.Minute); err != nil {
				return err
			}
			if _, err := os.Stat(env.Root.Dir); err != nil {
				return nil // the state root went meanwhile (a test's): nothing to keep
			}
		}
		return lifecycle.KeepPools(ctx, env, agents)
	})
}

// refillInBackground starts the keeper (bottle warm) as a process of its
// own, in a session of its own, which outlives this command; what it says
// goes to the state root's .warm.log.
func refillInBackground(g *globals, root state.Root, exe, engine, profile string) func(after string) {
	return func(after string) {
		args := []string{}
		if g.config != "" {
			args = append(args, "--config", g.config)
		}
		args = append(args, "warm", "--after", after)
		if engine != "" {
			args = append(args, "--engine", engine, "--profile", profile)
		}
		if isTerminal(g.stdin) && isTerminal(g.stdout) {
			args = append(args, "--tty")
		}
		cmd := exec.Command(exe, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		log, err := os.OpenFile(filepath.Join(root.Dir, state.PoolLog), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			termtext.Fprintf(g.stderr, "bottle: refill the warm bottles: %v\n", err)
			return
		}
		defer log.Close()
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			termtext.Fprintf(g.stderr, "bottle: refill the warm bottles: %v\n", err)
			return
		}
		cmd.Process.Release()
	}
}
