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
		Name:           "bottle",
		Usage:          "what runs in a bottle's containers (bottle sidecar, without the rest of bottle)",
		Version:        version,
		Reader:         stdin,
		Writer:         stdout,
		ErrWriter:      o.Stderr,
		Flags:          []cli.Flag{&cli.BoolFlag{Name: "debug", Usage: "log what bottle does to stderr"}},
		Before:         Logging(o.Stderr),
		Commands:       []*cli.Command{Command(o)},
		ExitErrHandler: func(*cli.Context, error) {}, // Run reports errors, once
	}
}

// Run is the sidecar binary's whole command line, with the exit codes
// bottle's gives: the agent's, else 125 when it failed (as podman run's).
func Run(ctx context.Context, version string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	own, agent, has := cliargs.Split(args)
	app := NewApp(&Options{Stderr: stderr, AgentArgs: agent, HasArgs: has}, version, stdin, stdout)
	return ExitCode(ctx, app.RunContext(ctx, cliargs.Intersperse(app, own)), stderr)
}

// Exit codes of both programs of bottle's, beside the agent's own.
const (
	ExitFailure     = 125 // bottle itself failed, as podman run does
	ExitInterrupted = 130
)

// ExitCode is the exit code of a command line that ended with err, said
// on stderr when it is a failure: 0, the agent's own (lifecycle.ExitError),
// ExitInterrupted, else ExitFailure.
func ExitCode(ctx context.Context, err error, stderr io.Writer) int {
	var code lifecycle.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "bottle: interrupted")
		return ExitInterrupted
	default:
		termtext.Fprintf(stderr, "bottle: %v\n", err)
		return ExitFailure
	}
}

// Logging is a command line's Before: what bottle does, logged to w, all
// of it with --debug.
func Logging(w io.Writer) cli.BeforeFunc {
	return func(c *cli.Context) error {
		level := slog.LevelWarn
		if c.Bool("debug") {
			level = slog.LevelDebug
		}
		slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})))
		return nil
	}
}
