package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/sidecars/agent"
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
			Usage:     "bring the branches the agent pushed (and, in copy mode, its own) into the workspace repository",
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
				_, err = os.Stat(filepath.Join(dir, gitgate.ConfigFile))
				hasGate := err == nil
				copied := filepath.Join(b.Dir, agent.Service, "workspace")
				_, err = os.Stat(filepath.Join(copied, ".git"))
				hasCopy := meta.Workspace == config.WorkspaceCopy && err == nil
				if !hasGate && !hasCopy {
					return fmt.Errorf("bottle %s has no git gate (its workspace had no remote) and no copied repository", id)
				}
				if lock, err := b.Lock(); err == nil {
					defer lock.Unlock() // else it runs: the refs it sets are whole either way
				}
				var lines []string
				err = nil
				if hasGate {
					lines, err = gitgate.FetchPushed(dir, meta.Workdir, c.Args().Get(1))
				}
				if err == nil && hasCopy && c.Args().Get(1) == "" {
					// Copy mode: the agent's own branches too, pushed or not.
					var more []string
					more, err = gitgate.FetchWorkspace(copied, meta.Workdir, "bottle/"+id+"/")
					lines = append(lines, more...)
				}
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
