package main

import (
	"fmt"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/workspace"
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
				b, err := root.Open(id)
				if err != nil {
					return err
				}
				meta, err := b.Metadata()
				if err != nil {
					return err
				}
				ws, err := b.Record(state.WorkspaceFile)
				if err != nil {
					return fmt.Errorf("bottle %s has no record of its workspace's repository (made by an earlier bottle version?): %w", id, err)
				}
				rec, err := workspace.Unmarshal(ws)
				if err != nil {
					return err
				}
				if rec.Git == workspace.GitNone {
					return fmt.Errorf("bottle %s: its working directory %s was no git repository", id, meta.Workdir)
				}
				dir := b.GitGateDir()
				hasGate := gitgate.Configured(dir)
				// The agent's own commits: its git folder of a bind workspace,
				// or the .git of its copy.
				agentGit := agent.AgentGitDir(b.AgentDir(), meta.Workspace == config.WorkspaceCopy)
				hasAgentGit := fileExists(agentGit)
				if !hasGate && !hasAgentGit {
					return fmt.Errorf("bottle %s has no git gate (its workspace had no remote) and no repository of the agent's", id)
				}
				if lock, err := b.Lock(); err == nil {
					defer lock.Unlock() // else it runs: the refs it sets are whole either way
				}
				var lines []string
				if hasGate {
					lines, err = gitgate.FetchPushed(dir, rec, c.Args().Get(1))
				}
				if err == nil && hasAgentGit && c.Args().Get(1) == "" {
					// The agent's own branches too, pushed or not.
					var more []string
					more, err = gitgate.FetchBranches(agentGit, rec, "bottle/"+id+"/", false)
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
