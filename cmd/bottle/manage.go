package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/urfave/cli/v2"
)

// identityArg reads the IDENTITY argument of a command that takes one and
// at most max arguments in all.
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
	return bottlesCommand(g, "stop", "stop bottles' pods, keeping each to resume or remove", stopBottle)
}

// stopBottle stops a bottle and says what it did, for bottle stop and the
// dashboard alike.
func stopBottle(ctx context.Context, env lifecycle.Env, b *state.Bottle, id string) (string, error) {
	if err := lifecycle.Stop(ctx, env, b, id); err != nil {
		return "", err
	}
	if b == nil {
		return "stopped " + id + " (its state is gone: bottle rm " + id + " removes its pod)", nil
	}
	return "stopped " + id + " (kept: " + resumeHint(id) + ")", nil
}

// resumeHint is how a kept bottle carries on, as every place that shows
// one says it.
func resumeHint(id string) string { return "bottle resume " + id }

func newRmCommand(g *globals) *cli.Command {
	return bottlesCommand(g, "rm", "remove bottles: each one's pod and its state", removeBottle)
}

// removeBottle removes a bottle and says so, for bottle rm and the dashboard.
func removeBottle(ctx context.Context, env lifecycle.Env, b *state.Bottle, id string) (string, error) {
	return "removed " + id, lifecycle.Remove(ctx, env, b, id)
}

// bottlesCommand is a command that acts on each bottle it names, found in
// state or in the engine (bottle rm $(bottle ls -q)), and says what it did
// to each on a line of its own; one it cannot act on is said and the rest
// are still done.
func bottlesCommand(g *globals, name, usage string, act func(context.Context, lifecycle.Env, *state.Bottle, string) (string, error)) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "IDENTITY...",
		Action: func(c *cli.Context) error {
			ids := c.Args().Slice()
			if len(ids) == 0 {
				return usageError(c, "name a bottle (see bottle ls)")
			}
			return withEnv(c.Context, g, func(env lifecycle.Env) error {
				var errs []error
				for _, id := range ids {
					b, err := lifecycle.Known(c.Context, env, id)
					var done string
					if err == nil {
						done, err = act(c.Context, env, b, id)
					}
					if err != nil {
						errs = append(errs, err)
						continue
					}
					fmt.Fprintln(g.stdout, done)
				}
				return errors.Join(errs...)
			})
		},
	}
}

type logsOptions struct{ follow bool }

func newLogsCommand(g *globals) *cli.Command {
	o := &logsOptions{}
	return &cli.Command{
		Name:      "logs",
		Usage:     "print the output of a bottle's agent, or of another of its services (" + strings.Join(sidecars.Services, ", ") + "; egress and git-gate print their audit logs)",
		ArgsUsage: "IDENTITY [SERVICE]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing as output arrives", Destination: &o.follow},
		},
		Action: func(c *cli.Context) error {
			id, err := identityArg(c, 2)
			if err != nil {
				return err
			}
			// What the agent wrote reaches the terminal only as text: the audit
			// logs (JSON lines) with those characters escaped, so they stay
			// JSON; a container's output replaced on a terminal.
			of := lifecycle.LogsOf{ID: id, Service: c.Args().Get(1), Follow: o.follow,
				Audit: &termtext.Writer{W: g.stdout, Escape: true}, Stdout: g.stdout, Stderr: g.stderr}
			if isTerminal(g.stdout) {
				of.Stdout = &termtext.Writer{W: g.stdout}
			}
			if isTerminal(g.stderr) {
				of.Stderr = &termtext.Writer{W: g.stderr}
			}
			return withBottles(c.Context, g, func(env lifecycle.Env) error { return lifecycle.Logs(c.Context, env, of) })
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
