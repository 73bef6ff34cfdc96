// Package sidecarcli is the command tree of "bottle sidecar": what runs in
// a bottle's containers (the sidecars, the agent's container's helper, a
// Kubernetes pod's state keeper and init containers). Both the bottle
// binary and the small sidecar binary (cmd/bottle-sidecar) have it, the
// one with every other command, the other with this tree alone.
package sidecarcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/files"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/kube/inpod"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/sidecars/idle"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"
)

// Options are what the tree takes from its program's command line.
type Options struct {
	Stderr io.Writer
	// AgentArgs are the words after "--" (HasArgs: there was one), which
	// the program keeps apart (cliargs.Split).
	AgentArgs []string
	HasArgs   bool
}

// Command is what the sidecar image runs: one hidden subcommand per
// sidecar, and those a container's helper needs.
func Command(o *Options) *cli.Command {
	var dir, listen, superviseDir string
	var wait time.Duration
	var gatewayUID int64
	dirFlag := &cli.StringFlag{Name: "dir", Usage: "the service's state folder", Required: true, Destination: &dir}
	return &cli.Command{
		Name:   "sidecar",
		Hidden: true,
		Subcommands: []*cli.Command{
			{
				Name: egress.Service,
				Flags: []cli.Flag{dirFlag,
					&cli.StringFlag{Name: "listen", Value: egress.ProxyAddr, Usage: "the proxy's address", Destination: &listen},
					&cli.StringFlag{Name: supervise.Flag, Usage: "also serve the supervise server from this folder", Destination: &superviseDir},
					&cli.DurationFlag{Name: "wait", Value: 60 * time.Second, Usage: "how long a supervise request waits for a decision", Destination: &wait}},
				Action: func(c *cli.Context) error {
					// A warm bottle's proxy waits for the claim, having said it is up.
					ready := []string{filepath.Join(dir, egress.ReadyFile)}
					if superviseDir != "" {
						ready = append(ready, filepath.Join(superviseDir, supervise.ReadyFile))
					}
					if err := egress.AwaitClaim(c.Context, dir, ready); err != nil {
						return fmt.Errorf("egress: %w", err)
					}
					p, err := egress.NewProxy(dir)
					if err != nil {
						return fmt.Errorf("egress: %w", err)
					}
					if err := egress.ReachGateway(c.Context, dir, 10*time.Second, os.Getenv(inpod.SocketsByHint) != ""); err != nil {
						return fmt.Errorf("egress: %w", err)
					}
					if superviseDir != "" {
						p.ReportTo(supervise.Reports{Store: supervise.Store{Dir: superviseDir}})
					}
					egress.LimitMemory()
					go trimWhenIdle(c.Context)
					g, ctx := errgroup.WithContext(c.Context)
					g.Go(func() error { return p.Serve(ctx, listen) })
					if superviseDir != "" {
						s := &supervise.Server{Store: supervise.Store{Dir: superviseDir}, Wait: wait}
						g.Go(func() error {
							if err := s.Serve(ctx, supervise.Addr); err != nil {
								return fmt.Errorf("supervise: %w", err)
							}
							return nil
						})
					}
					return g.Wait()
				},
			},
			{
				Name:  gitgate.Service,
				Flags: []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					s, err := gitgate.NewServer(dir)
					if err != nil {
						return err
					}
					go trimWhenIdle(c.Context)
					return s.Serve(c.Context, gitgate.Addr)
				},
			},
			{
				// relay carries one connection of bottle port, in the pod.
				Name: "relay",
				Action: func(c *cli.Context) error {
					return lifecycle.Relay(c.Context, c.Args().First(), os.Stdin, os.Stdout)
				},
			},
			{
				// ready answers a Kubernetes startup probe: is the file there?
				Name: "ready",
				Action: func(c *cli.Context) error {
					if _, err := os.Stat(c.Args().First()); err != nil {
						return lifecycle.ExitError(1)
					}
					return nil
				},
			},
			{
				// state is a Kubernetes bottle's state keeper; untar, tar,
				// touch run in it through the engine; await starts the agent.
				Name: "state",
				Flags: []cli.Flag{&cli.StringFlag{Name: "bin", Usage: "copy this binary into the folder, for the agent's container"},
					&cli.StringFlag{Name: "volume", Usage: "the bottle's volume, made the pod group's"},
					&cli.StringSliceFlag{Name: "ready", Usage: "a sidecar's ready file, as the keeper sees it"},
					&cli.StringFlag{Name: "ready-mark", Usage: "make this file once every ready file is there"}},
				Action: func(c *cli.Context) error {
					if dir := c.String("bin"); dir != "" {
						// Whole or not at all: the agent's container may start
						// the moment it is there (the keeper's hook waits for it).
						tmp := filepath.Join(dir, ".bottle.tmp")
						os.Remove(tmp)
						if err := files.Copy(spec.SidecarBinary, tmp, 0o755); err != nil {
							return fmt.Errorf("state: %w", err)
						}
						if err := os.Rename(tmp, filepath.Join(dir, "bottle")); err != nil {
							return fmt.Errorf("state: %w", err)
						}
					}
					return inpod.Keep(c.Context, c.String("volume"), c.StringSlice("ready"), c.String("ready-mark"))
				},
			},
			{Name: "untar", Flags: append([]cli.Flag{&cli.StringFlag{Name: "then-touch", Usage: "once written, make this file (the volume's seeded mark)"}}, releaseFlags()...),
				Action: func(c *cli.Context) error {
					if err := inpod.Untar(beneath.At(c.Args().First()), os.Stdin, int(inpod.AgentUID)); err != nil {
						return err
					}
					if f := c.String("then-touch"); f != "" {
						if err := inpod.Touch(f); err != nil {
							return err
						}
					}
					// A claimed warm pod's proxy goes on once what the claim
					// brought is on the volume: one exec for both.
					return release(c)
				}},
			{Name: "await-seed", Flags: []cli.Flag{&cli.DurationFlag{Name: "within", Value: 5 * time.Minute}}, Action: func(c *cli.Context) error {
				return inpod.AwaitSeed(c.Context, c.Args().Slice(), c.Duration("within"))
			}},
			{Name: "await-files", Flags: []cli.Flag{&cli.DurationFlag{Name: "within", Value: time.Minute}}, Action: func(c *cli.Context) error {
				return inpod.AwaitFiles(c.Context, c.Args().Slice(), c.Duration("within"))
			}},
			// A claimed warm pod's proxy goes on, in the state keeper.
			{Name: "release", Flags: releaseFlags(), Action: release},
			{Name: "tar", Action: func(c *cli.Context) error { return inpod.TarFolders(c.Args().First(), c.Args().Tail(), nil, os.Stdout) }},
			{Name: "touch", Action: func(c *cli.Context) error { return inpod.Touch(c.Args().First()) }},
			{Name: "reach", Flags: []cli.Flag{&cli.DurationFlag{Name: "wait", Value: 5 * time.Second}}, Action: func(c *cli.Context) error {
				return inpod.Reach(c.Context, c.Args().Slice(), c.Duration("wait"))
			}},
			{Name: "prove-isolation", Flags: []cli.Flag{&cli.StringFlag{Name: "then-touch", Usage: "once proven, make this file (the agent's go-ahead)"},
				&cli.StringFlag{Name: "after", Usage: "and once this file is there (the sidecars' ready mark)"},
				&cli.BoolFlag{Name: "word", Usage: "and once proven, say " + inpod.Proven + " and wait for " + inpod.Go + " on stdin"},
				&cli.StringFlag{Name: "command", Usage: "the agent's command, as a JSON array, which the go-ahead holds"}},
				Action: func(c *cli.Context) error {
					f := c.String("then-touch")
					if f == "" {
						return inpod.ProveIsolation(c.Context, c.Args().Slice(), 1500*time.Millisecond)
					}
					var word io.Reader
					if c.Bool("word") {
						word = os.Stdin
					}
					var argv []string
					if cmd := c.String("command"); cmd != "" {
						if err := json.Unmarshal([]byte(cmd), &argv); err != nil || len(argv) == 0 {
							return fmt.Errorf("prove-isolation: --command %q is not a command (a JSON array): %v", cmd, err)
						}
					}
					return inpod.GoAhead(c.Context, c.Args().Slice(), c.String("after"), f, argv, word, os.Stdout)
				}},
			{Name: "await-start", Action: func(c *cli.Context) error {
				// The agent's container on Podman, started ahead: FIFO WORKDIR.
				if c.Args().Len() != 2 {
					return fmt.Errorf("await-start: FIFO WORKDIR")
				}
				return execFailed(o.Stderr, agent.AwaitStart(c.Args().Get(0), c.Args().Get(1)))
			}},
			{Name: "stdin", Action: func(c *cli.Context) error {
				// The agent's command with no terminal on Podman: DIR -- COMMAND.
				if c.Args().Len() != 1 || !o.HasArgs || len(o.AgentArgs) == 0 {
					return fmt.Errorf("stdin: DIR -- COMMAND")
				}
				return execFailed(o.Stderr, agent.RelayStdin(os.Args[0], c.Args().First(), o.AgentArgs))
			}},
			{Name: "stdin-copy", Action: func(c *cli.Context) error {
				// What stdin starts: DIR, the agent's input on fd 3.
				if c.Args().Len() != 1 {
					return fmt.Errorf("stdin-copy: DIR")
				}
				return agent.CopyStdin(c.Args().First(), os.NewFile(3, "the agent's input"))
			}},
			{Name: "await", Action: func(c *cli.Context) error {
				// The command comes after --, which bottle's own parsing keeps
				// apart, or with the go-ahead, in FILE.
				if c.Args().Len() != 1 || o.HasArgs && len(o.AgentArgs) == 0 {
					return fmt.Errorf("await: FILE [-- COMMAND]")
				}
				return inpod.AwaitThenExec(c.Context, c.Args().First(), o.AgentArgs)
			}},
			{
				// isolate is a Kubernetes bottle's first init container.
				Name: "isolate",
				Flags: []cli.Flag{&cli.Int64Flag{Name: "gateway-uid", Required: true, Destination: &gatewayUID},
					&cli.StringFlag{Name: "hold", Usage: "once isolated, make this file and hold on (a native sidecar)"}},
				Action: func(c *cli.Context) error {
					if done := c.String("hold"); done != "" {
						return inpod.IsolateAndHold(c.Context, gatewayUID, done)
					}
					return inpod.Isolate(c.Context, gatewayUID)
				},
			},
			{
				Name:  egress.GatewayService,
				Flags: []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					gw, err := egress.NewGateway(dir)
					if err != nil {
						return fmt.Errorf("gateway: %w", err)
					}
					go trimWhenIdle(c.Context)
					return gw.Serve(c.Context)
				},
			},
		},
	}
}

// trimWhenIdle gives back, once start-up is over, the pages of the binary
// that start-up touched (sidecars/idle).
func trimWhenIdle(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		idle.Trim()
	}
}

// execFailed says, as a shell would, that the agent's command could not
// be found (127) or run (126); nil when err is.
func execFailed(stderr io.Writer, err error) error {
	if err == nil {
		return nil
	}
	termtext.Fprintf(stderr, "bottle: %v\n", err)
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return lifecycle.ExitError(127)
	}
	return lifecycle.ExitError(126)
}

// releaseFlags are the flags of the state keeper's release of a claimed
// warm pod's proxy (inpod.Release), on its own or after a copy-in.
func releaseFlags() []cli.Flag {
	return []cli.Flag{&cli.StringSliceFlag{Name: "unready", Usage: "take this file away first (a held-back proxy's ready file, a ready mark)"},
		&cli.StringFlag{Name: "warm", Usage: "then the proxy's warm file, which holds it back"},
		&cli.StringSliceFlag{Name: "ready", Usage: "a sidecar's ready file, as the keeper sees it"},
		&cli.StringFlag{Name: "mark", Usage: "make this file once every ready file is there"},
		&cli.DurationFlag{Name: "within", Value: 2 * time.Minute}}
}

// release does what releaseFlags ask, nothing when none is set.
func release(c *cli.Context) error {
	return inpod.Release(c.Context, c.StringSlice("unready"), c.String("warm"), c.StringSlice("ready"), c.String("mark"), c.Duration("within"))
}
