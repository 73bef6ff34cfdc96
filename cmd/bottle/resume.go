package main

import (
	"context"

	"github.com/bottle-sandbox/bottle/engines"
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
			&cli.BoolFlag{Name: "keep", Usage: "keep the bottle's state at the end (a kept bottle stays kept; this keeps one that was not)", Destination: &o.keep},
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
	// A bottle resumes where it ran, as its folder records (the router
	// sends it there). An unknown identity is said before any engine is asked.
	root, err := state.DefaultRoot()
	if err != nil {
		return err
	}
	b, err := root.Open(o.id)
	if err != nil {
		return err
	}
	m, err := b.Metadata()
	if err != nil {
		return err
	}
	cfg, _, _ := loadHere(g) // the resume reads it again, and says what is wrong with it
	route := func(root state.Root) *engines.Router { return engines.Resuming(ctx, root, cfg, m) }
	return withRouter(ctx, g, true, route, func(env lifecycle.Env) error { return r.Run(ctx, env) })
}
