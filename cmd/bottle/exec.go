package main

import (
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/bottle-sandbox/bottle/lifecycle"
)

func newExecCommand(g *globals) *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command in a running bottle's agent container (a terminal when stdin is one)",
		ArgsUsage: "IDENTITY [--] CMD...",
		Action: func(c *cli.Context) error {
			id := c.Args().First()
			argv := c.Args().Tail()
			if g.hasArgs {
				if len(argv) > 0 {
					return fmt.Errorf("give the command after --, or without it, not both (bottle exec %s -- CMD...)", id)
				}
				argv = g.agentArgs
			}
			if id == "" || len(argv) == 0 {
				return usageError(c, "name a bottle and a command")
			}
			return withBottles(c.Context, g, func(env lifecycle.Env) error {
				code, err := lifecycle.Exec(c.Context, env, id, argv, env.TTY)
				if err == nil && code != 0 {
					return lifecycle.ExitError(code)
				}
				return err
			})
		},
	}
}

func newPortCommand(g *globals) *cli.Command {
	return &cli.Command{
		Name:      "port",
		Usage:     "make a server on a bottle's loopback reachable on the host's 127.0.0.1, until interrupted",
		ArgsUsage: "IDENTITY PORT [HOSTPORT (0: any free one)]",
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 3); err != nil {
				return err
			}
			id := c.Args().Get(0)
			if id == "" || c.Args().Get(1) == "" {
				return usageError(c, "name a bottle and the port its server listens on")
			}
			port, err := portArg(c.Args().Get(1))
			if err != nil {
				return fmt.Errorf("PORT: %w", err)
			}
			hostPort := port
			if s := c.Args().Get(2); s == "0" {
				hostPort = 0 // any free port: the address is printed
			} else if s != "" {
				if hostPort, err = portArg(s); err != nil {
					return fmt.Errorf("HOSTPORT: %w", err)
				}
			}
			return withBottles(c.Context, g, func(env lifecycle.Env) error {
				return lifecycle.Port(c.Context, env, id, port, hostPort, func(addr string) {
					fmt.Fprintln(g.stdout, addr)
					fmt.Fprintf(g.stderr, "bottle: %s's port %d is at %s until interrupted (Ctrl-C)\n", id, port, addr)
				})
			})
		},
	}
}

func portArg(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (1 to 65535)", s)
	}
	return n, nil
}
