package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/pod"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/agent"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
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

// known checks that id names a bottle, in state or in Podman, and returns
// its state folder when there is one.
func known(ctx context.Context, conn *pod.Conn, root state.Root, id string) (*state.Bottle, error) {
	b, err := root.Open(id)
	var nf *state.NotFoundError
	if errors.As(err, &nf) && state.ValidID(id) {
		if ok, perr := conn.PodExists(ctx, sidecars.PodName(id)); perr == nil && ok {
			return nil, nil // a pod without state: still stoppable and removable
		}
	}
	return b, err
}

func newStopCommand(g *globals) *cli.Command {
	return identityCommand(g, "stop", "stop a bottle's pod, keeping it to resume or remove", stopBottle)
}

// identityCommand is a command that acts on one bottle, found in state or in Podman.
func identityCommand(g *globals, name, usage string, act func(context.Context, *pod.Conn, *state.Bottle, string, io.Writer) error) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "IDENTITY",
		Action: func(c *cli.Context) error {
			id, err := identityArg(c, 1)
			if err != nil {
				return err
			}
			return withConn(c.Context, func(conn *pod.Conn, root state.Root) error {
				b, err := known(c.Context, conn, root, id)
				if err != nil {
					return err
				}
				return act(c.Context, conn, b, id, g.stderr)
			})
		},
	}
}

// stopBottle stops a bottle's pod and keeps its state: a stopped bottle is
// one the user wants back. b is nil for a pod whose state is gone.
func stopBottle(ctx context.Context, conn *pod.Conn, b *state.Bottle, id string, w io.Writer) error {
	if b != nil {
		if err := b.Preserve("stopped"); err != nil {
			return err
		}
	}
	err := conn.StopPod(ctx, sidecars.PodName(id))
	if errors.As(err, new(*pod.NotFoundError)) {
		err = nil // nothing runs: stopped already
	}
	if err != nil {
		return err
	}
	// The gateway lives beside the pod: it goes with it.
	if err := conn.RemoveBottle(ctx, "", id); err != nil {
		return err
	}
	return settleWorkspace(b, w)
}

// removeBottle removes a bottle's containers, pod and state.
func removeBottle(ctx context.Context, conn *pod.Conn, b *state.Bottle, id string, w io.Writer) error {
	if err := conn.RemoveBottle(ctx, sidecars.PodName(id), id); err != nil {
		return err
	}
	if b == nil {
		return nil
	}
	// What the agent did comes back first; what it left in the workspace
	// goes with its state.
	if err := settleWorkspace(b, w); err != nil {
		return err
	}
	return b.Remove()
}

func newRmCommand(g *globals) *cli.Command {
	return identityCommand(g, "rm", "remove a bottle: its pod and its state", removeBottle)
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
			return withConn(c.Context, func(conn *pod.Conn, root state.Root) error {
				b, err := known(c.Context, conn, root, id)
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
				err = conn.Logs(c.Context, name, o.follow, stdout, stderr)
				if errors.As(err, new(*pod.NotFoundError)) {
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
			return withConn(c.Context, func(conn *pod.Conn, root state.Root) error {
				rows, err := listBottles(c.Context, conn, root)
				if err != nil {
					return err
				}
				// Folders of starts that died before describing themselves.
				unfinished, err := root.Unfinished()
				if err != nil {
					return err
				}
				for _, b := range unfinished {
					if b.InUse() {
						continue // still starting
					}
					if err := b.Remove(); err != nil {
						return err
					}
					fmt.Fprintf(g.stdout, "removed unfinished state %s\n", b.ID)
				}
				for _, r := range rows {
					if r.Pod != "" && r.State != "" && r.agentDone && !r.Preserved {
						// A bottle whose agent has ended and whose launcher
						// is gone (killed, or it was detached): nobody will
						// tear it down but gc.
						b := &state.Bottle{ID: r.Identity, Dir: r.State}
						if b.InUse() {
							continue
						}
						if err := removeBottle(c.Context, conn, b, r.Identity, g.stderr); err != nil {
							return err
						}
						fmt.Fprintf(g.stdout, "removed %s (its agent ended and no bottle command holds it)\n", r.Identity)
						continue
					}
					switch r.Status {
					case statusOrphan:
						if err := conn.RemoveBottle(c.Context, r.Pod, r.Identity); err != nil {
							return err
						}
						fmt.Fprintf(g.stdout, "removed pod %s (its state is gone)\n", r.Pod)
					case statusStale:
						// The pod is gone; what it had beside it (the gateway) goes too.
						if err := conn.RemoveBottle(c.Context, "", r.Identity); err != nil {
							return err
						}
						b := &state.Bottle{ID: r.Identity, Dir: r.State}
						if err := settleWorkspace(b, g.stderr); err != nil {
							return err
						}
						if err := b.Remove(); err != nil {
							return err
						}
						fmt.Fprintf(g.stdout, "removed state of %s (its pod is gone)\n", r.Identity)
					}
				}
				return nil
			})
		},
	}
}

func withConn(ctx context.Context, f func(*pod.Conn, state.Root) error) error {
	conn, err := pod.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	root, err := state.DefaultRoot()
	if err != nil {
		return err
	}
	return f(conn, root)
}
