package main

import (
	"fmt"

	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/state"
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
				root, err := state.DefaultRoot()
				if err != nil {
					return err
				}
				// A running cluster bottle's repositories are on its volume.
				if err := bringClusterGit(c.Context, root, id); err != nil {
					return err
				}
				lines, err := lifecycle.GitFetch(c.Context, root, id, c.Args().Get(1))
				for _, l := range lines {
					fmt.Fprintln(g.stdout, l)
				}
				if err == nil && len(lines) == 0 {
					fmt.Fprintf(g.stdout, "bottle %s: the agent pushed no branch\n", id)
				}
				return err
			},
		}},
	}
}
