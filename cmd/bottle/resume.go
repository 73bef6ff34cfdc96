package main

import (
	"context"
	"os"
	"strings"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/sidecars/agent"

	"github.com/bottle-sandbox/bottle/state"
	"github.com/urfave/cli/v2"
)

type resumeOptions struct {
	id     string
	yes    bool
	keep   bool
	detach bool
}

func newResumeCommand(g *globals) *cli.Command {
	o := &resumeOptions{}
	return &cli.Command{
		Name:      "resume",
		Usage:     "recreate a kept bottle under the same identity and carry on",
		ArgsUsage: "IDENTITY",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "resume without asking to confirm the preflight", Destination: &o.yes},
			&cli.BoolFlag{Name: "keep", Usage: "keep the bottle's state at the end", Destination: &o.keep},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "resume in the background", Destination: &o.detach},
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
	// The user's own config as it is now, the working directory's as it was
	// at the first start (unless the person takes a change).
	wdData, err := resumeWorkdirConfig(ctx, g, b, m.Workdir, o.yes)
	if err != nil {
		return err
	}
	src, err := config.DefaultSources(g.config, m.Workdir)
	if err != nil {
		return err
	}
	src.WorkdirData, src.UseWorkdirData = wdData, true
	cfg, err := config.Load(src)
	if err != nil {
		return err
	}
	a, err := cfg.Agent(m.Agent)
	if err != nil {
		return err
	}
	a.Workspace = m.Workspace // the workspace a bottle was made with is part of what it is
	// An approved capability request left a Containerfile of this bottle's
	// own: the agent wrote it, so it builds isolated.
	capability := false
	if cf := agent.CapabilityFile(b.AgentDir()); fileExists(cf) {
		if a.Containerfile == "" || strings.HasPrefix(a.Context, config.Embedded) {
			a.Context = agent.CapabilityContext(b.AgentDir())
			if err := os.MkdirAll(a.Context, 0o700); err != nil {
				return err
			}
		}
		a.Image, a.Containerfile = "", cf
		capability = true
	}
	l := &launch{g: g, agent: a, workdir: m.Workdir, args: m.Args, yes: o.yes, keep: o.keep, detach: o.detach, resume: b, workdirConfig: wdData, isolatedBuild: capability}
	if g.hasArgs {
		l.args = g.agentArgs
	}
	return l.run(ctx)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
