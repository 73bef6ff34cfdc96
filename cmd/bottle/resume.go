package main

import (
	"context"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/urfave/cli/v2"
)

type resumeOptions struct {
	id     string
	yes    bool
	keep   bool
	detach bool
	// reviewed: the person has looked at what changed in the workspace's
	// git metadata since the first start, and carries on.
	reviewed bool
}

func newResumeCommand(g *globals) *cli.Command {
	o := &resumeOptions{}
	return &cli.Command{
		Name:      "resume",
		Usage:     "recreate a kept bottle under the same identity and carry on",
		ArgsUsage: "IDENTITY [-- ARGS...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "resume without asking to confirm the preflight", Destination: &o.yes},
			&cli.BoolFlag{Name: "keep", Usage: "keep the bottle's state at the end", Destination: &o.keep},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "resume in the background", Destination: &o.detach},
			&cli.BoolFlag{Name: "reviewed", Usage: "carry on after git metadata in the workspace changed since the first start (the refusal says what; look first)", Destination: &o.reviewed},
		},
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 1); err != nil {
				return err
			}
			o.id = c.Args().First()
			if o.id == "" {
				return usageError(c, "name the bottle to resume")
			}
			return runResume(c.Context, g, o)
		},
	}
}

func runResume(ctx context.Context, g *globals, o *resumeOptions) error {
	r := &lifecycle.Resume{ID: o.id, Yes: o.yes, Keep: o.keep, Detach: o.detach, Reviewed: o.reviewed, Args: g.agentArgs, HasArgs: g.hasArgs,
		ConfigFile: g.config, ShowPreflight: printPreflight}
	// A bottle resumes where it ran: Podman, or the cluster it records.
	// An unknown identity is said before any engine is asked.
	root, err := state.DefaultRoot()
	if err != nil {
		return err
	}
	b, err := root.Open(o.id)
	if err != nil {
		return err
	}
	engine, k := config.EnginePodman, config.Kubernetes{}
	if m, err := b.Metadata(); err == nil && m.Engine == config.EngineKubernetes {
		engine = m.Engine
		if cfg, _, err := loadHere(g); err == nil {
			k = cfg.Kubernetes
		}
		k.Context, k.Namespace = m.Context, m.Namespace
	}
	return withEngine(ctx, g, engine, k, func(env lifecycle.Env) error { return r.Run(ctx, env) })
}
