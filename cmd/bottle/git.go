package main

import (
	"fmt"

	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/urfave/cli/v2"
)

func newGitCommand(g *globals) *cli.Command {
	return &cli.Command{
		Name:  "git",
		Usage: "work with what an agent pushed through its bottle's git gate",
		Subcommands: []*cli.Command{{
			Name:      "fetch",
			Usage:     "bring the branches the agent pushed, and its own as bottle/IDENTITY/BRANCH, into the workspace repository",
			ArgsUsage: "IDENTITY [REMOTE]",
			Action: func(c *cli.Context) error {
				id, err := identityArg(c, 2)
				if err != nil {
					return err
				}
				return withBottles(c.Context, g, func(env lifecycle.Env) error {
					lines, err := lifecycle.GitFetch(c.Context, env, id, c.Args().Get(1))
					for _, l := range lines {
						fmt.Fprintln(g.stdout, l)
					}
					if err == nil && len(lines) == 0 {
						fmt.Fprintf(g.stdout, "bottle %s: the agent pushed no branch\n", id)
					}
					return err
				})
			},
		}},
	}
}
