package main

import (
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/urfave/cli/v2"
)

func newAttachCommand(g *globals) *cli.Command {
	var noStdin bool
	return &cli.Command{
		Name:      "attach",
		Usage:     "attach to the agent of a bottle started detached, until it ends (its exit code) or you detach (ctrl-p ctrl-q on Podman)",
		ArgsUsage: "IDENTITY",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "no-stdin", Usage: "do not pass your input on to the agent", Destination: &noStdin}},
		Action: func(c *cli.Context) error {
			id, err := identityArg(c, 1)
			if err != nil {
				return err
			}
			return withBottles(c.Context, g, func(env lifecycle.Env) error { return lifecycle.Attach(c.Context, env, id, !noStdin) })
		},
	}
}
