package sidecarcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/bottle-sandbox/bottle/internal/cliargs"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/urfave/cli/v2"
)

// NewApp is the sidecar binary's command line: bottle's, with the sidecar
// tree as its one command, so a container's command line is the same
// whichever of the two binaries runs it.
func NewApp(o *Options, version string, stdin io.Reader, stdout io.Writer) *cli.App {
	return &cli.App{
		Name:      "bottle",
		Usage:     "what runs in a bottle's containers (bottle sidecar, without the rest of bottle)",
		Version:   version,
		Reader:    stdin,
		Writer:    stdout,
		ErrWriter: o.Stderr,
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "debug", Usage: "log what bottle does to stderr"}},
		Before: func(c *cli.Context) error {
			level := slog.LevelWarn
			if c.Bool("debug") {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: level})))
			return nil
		},
		Commands:       []*cli.Command{Command(o)},
		ExitErrHandler: func(*cli.Context, error) {}, // Run reports errors, once
	}
}

// Run is the sidecar binary's whole command line, with the exit codes
// bottle's gives: the agent's, else 125 when it failed (as podman run's).
func Run(ctx context.Context, version string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	own, agent, has := cliargs.Split(args)
	app := NewApp(&Options{Stderr: stderr, AgentArgs: agent, HasArgs: has}, version, stdin, stdout)
	err := app.RunContext(ctx, cliargs.Intersperse(app, own))
	var code lifecycle.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "bottle: interrupted")
		return 130
	default:
		termtext.Fprintf(stderr, "bottle: %v\n", err)
		return 125
	}
}
