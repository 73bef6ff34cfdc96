package main

import (
	"context"
	"fmt"
	"time"

	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/sidecars/idle"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/urfave/cli/v2"
)

// newSidecarCommand is what the sidecar image runs: the bottle binary is the
// image, one hidden subcommand per sidecar.
func newSidecarCommand(g *globals) *cli.Command {
	var dir, listen string
	var wait time.Duration
	dirFlag := &cli.StringFlag{Name: "dir", Usage: "the service's state folder", Required: true, Destination: &dir}
	return &cli.Command{
		Name:   "sidecar",
		Hidden: true,
		Subcommands: []*cli.Command{
			{
				Name: egress.Service,
				Flags: []cli.Flag{dirFlag,
					&cli.StringFlag{Name: "listen", Value: egress.ProxyAddr, Usage: "the proxy's address", Destination: &listen}},
				Action: func(c *cli.Context) error {
					p, err := egress.NewProxy(dir)
					if err != nil {
						return fmt.Errorf("egress: %w", err)
					}
					go trimWhenIdle(c.Context)
					return p.Serve(c.Context, listen)
				},
			},
			{
				Name: supervise.Service,
				Flags: []cli.Flag{dirFlag,
					&cli.DurationFlag{Name: "wait", Value: 60 * time.Second, Usage: "how long a request waits for a decision", Destination: &wait}},
				Action: func(c *cli.Context) error {
					s := &supervise.Server{Store: supervise.Store{Dir: dir}, Wait: wait}
					go trimWhenIdle(c.Context)
					return s.Serve(c.Context, supervise.Addr)
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
