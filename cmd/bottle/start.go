package main

import (
	"context"
	"io"

	"github.com/bottle-sandbox/bottle/engines"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/urfave/cli/v2"
)

// defaultAgent runs when start names none.
const defaultAgent = "claude"

type startOptions struct {
	agent  string
	engine string
	yes    bool
	dryRun bool
	keep   bool
	detach bool
	json   bool
}

func newStartCommand(g *globals) *cli.Command {
	o := &startOptions{}
	return &cli.Command{
		Name:      "start",
		Usage:     "start a bottle for an agent profile and attach to it",
		ArgsUsage: "[AGENT] [-- ARGS...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "start without asking to confirm the preflight", Destination: &o.yes},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the preflight and exit", Destination: &o.dryRun},
			&cli.BoolFlag{Name: "keep", Usage: "keep the bottle's state at the end, to resume it", Destination: &o.keep},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "start in the background and print the identity", Destination: &o.detach},
			&cli.BoolFlag{Name: "json", Usage: "with --dry-run, print the preview as JSON; with --detach, the bottle as bottle ls --json shows it", Destination: &o.json},
			&cli.StringFlag{Name: "engine", Usage: "where the bottle runs: podman, or kubernetes (the cluster of your [kubernetes]; default: the profile's engine)", Destination: &o.engine},
		},
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 1); err != nil {
				return err
			}
			if o.json && !o.dryRun && !o.detach {
				return usageError(c, "--json goes with --dry-run or --detach")
			}
			o.agent = c.Args().First()
			if o.agent == "" {
				o.agent = defaultAgent
			}
			return runStart(c.Context, g, o)
		},
	}
}

func runStart(ctx context.Context, g *globals, o *startOptions) error {
	cfg, wd, err := loadHere(g)
	if err != nil {
		return err
	}
	a, err := cfg.Agent(o.agent)
	if err != nil {
		return err
	}
	engine, err := engines.Choose(o.engine, a.Engine)
	if err != nil {
		return err
	}
	l := &lifecycle.Launch{Agent: a, Workdir: wd, Yes: o.yes, DryRun: o.dryRun, Keep: o.keep, Detach: o.detach,
		WorkdirConfig: cfg.WorkdirData, Repositories: cfg.Repositories, ShowPreflight: printPreflight}
	if g.hasArgs {
		l.Args = g.agentArgs
	}
	if o.json {
		l.ShowPreflight = printPreflightJSON
	}
	route := func(root state.Root) *engines.Router { return engines.New(ctx, root, cfg, engine) }
	return withRouter(ctx, g, true, route, func(env lifecycle.Env) error {
		if o.json && o.detach {
			l.ShowDetached = func(w io.Writer, id string) error { return printBottleJSON(ctx, env, w, id) }
		}
		// The keeper refills the pools on the engine this start went to.
		env.Refill = refillInBackground(g, env.Root, env.Exe, engine, a.Name)
		return l.Run(ctx, env)
	})
}
