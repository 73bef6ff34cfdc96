package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/urfave/cli/v2"
)

func newGitCommand(g *globals) *cli.Command {
	return &cli.Command{
		Name:  "git",
		Usage: "work with what an agent pushed through its bottle's git gate",
		Subcommands: []*cli.Command{{
			Name:      "fetch",
			Usage:     "bring the branches the agent pushed into the bottle's workspace repository",
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
				b, err := root.Open(id)
				if err != nil {
					return err
				}
				meta, err := b.Metadata()
				if err != nil {
					return err
				}
				dir := filepath.Join(b.Dir, gitgate.Service)
				if _, err := os.Stat(filepath.Join(dir, gitgate.ConfigFile)); errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("bottle %s has no git gate (its workspace had no remote)", id)
				}
				lock, err := b.Lock()
				if err != nil {
					// Running: the gate may be writing; the refs it set are whole either way.
					lock = nil
				}
				if lock != nil {
					defer lock.Unlock()
				}
				lines, err := gitgate.FetchPushed(dir, meta.Workdir, c.Args().Get(1))
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
