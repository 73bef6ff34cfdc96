package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/agent"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/urfave/cli/v2"
)

// identityArg reads the one IDENTITY argument of stop, rm and logs.
func identityArg(c *cli.Context, max int) (string, error) {
	if err := noExtraArgs(c, max); err != nil {
		return "", err
	}
	id := c.Args().First()
	if id == "" {
		return "", usageError(c, "name a bottle (see bottle ls)")
	}
	return id, nil
}

func usageError(c *cli.Context, msg string) error {
	return fmt.Errorf("%s: bottle %s %s", msg, c.Command.Name, c.Command.ArgsUsage)
}

func newStopCommand(g *globals) *cli.Command {
	return identityCommand(g, "stop", "stop a bottle's pod, keeping it to resume or remove", lifecycle.Stop)
}

// identityCommand is a command that acts on one bottle, found in state or
// in the engine.
func identityCommand(g *globals, name, usage string, act func(context.Context, lifecycle.Env, *state.Bottle, string) error) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "IDENTITY",
		Action: func(c *cli.Context) error {
			id, err := identityArg(c, 1)
			if err != nil {
				return err
			}
			return withEnv(c.Context, g, func(env lifecycle.Env) error {
				b, err := lifecycle.Known(c.Context, env, id)
				if err != nil {
					return err
				}
				return act(c.Context, env, b, id)
			})
		},
	}
}

func newRmCommand(g *globals) *cli.Command {
	return identityCommand(g, "rm", "remove a bottle: its pod and its state", lifecycle.Remove)
}

type logsOptions struct{ follow bool }

func newLogsCommand(g *globals) *cli.Command {
	o := &logsOptions{}
	return &cli.Command{
		Name:      "logs",
		Usage:     "print the output of a bottle's agent, or of one of its sidecars",
		ArgsUsage: "IDENTITY [SERVICE]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing as output arrives", Destination: &o.follow},
		},
		Action: func(c *cli.Context) error {
			id, err := identityArg(c, 2)
			if err != nil {
				return err
			}
			service := c.Args().Get(1)
			if service == "" {
				service = agent.Service
			}
			return withEnv(c.Context, g, func(env lifecycle.Env) error {
				b, err := lifecycle.Known(c.Context, env, id)
				if err != nil {
					return err
				}
				// What the agent wrote reaches the terminal only as text: the
				// audit logs (JSON lines) with those characters escaped, so
				// they stay JSON; a container's output replaced on a terminal.
				audit := &termtext.Writer{W: g.stdout, Escape: true}
				if service == egress.Service && b != nil {
					// The proxy's decisions are its audit log, kept in state.
					return followFile(c.Context, egress.AuditPath(b.EgressDir()), o.follow, audit)
				}
				if service == gitgate.Service && b != nil {
					// So are the gate's: one line per push.
					file := gitgate.AuditPath(b.GitGateDir())
					if !gitgate.Configured(b.GitGateDir()) {
						return fmt.Errorf("bottle %s has no git gate (its workspace had no remote)", id)
					}
					if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) && !o.follow {
						return nil // no push yet
					}
					return followFile(c.Context, file, o.follow, audit)
				}
				name := sidecars.ServiceContainer(id, service)
				stdout, stderr := g.stdout, g.stderr
				if isTerminal(stdout) {
					stdout = &termtext.Writer{W: stdout}
				}
				if isTerminal(stderr) {
					stderr = &termtext.Writer{W: stderr}
				}
				err = env.Engine.Logs(c.Context, name, o.follow, stdout, stderr)
				if errors.As(err, new(*spec.NotFoundError)) {
					return fmt.Errorf("bottle %s has no running %s (its pod is gone; bottle resume %s brings it back)", id, service, id)
				}
				return err
			})
		},
	}
}

func newGCCommand(g *globals) *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "remove pods whose state is gone, state whose pod is gone, and bottles whose agent ended with no command to tear them down, unless kept",
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 0); err != nil {
				return err
			}
			return withEnv(c.Context, g, func(env lifecycle.Env) error { return lifecycle.GC(c.Context, env) })
		},
	}
}
