package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/cliargs"
	"github.com/bottle-sandbox/bottle/internal/sidecarcli"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/urfave/cli/v2"
)

// Exit codes of bottle's own, apart from the agent's, which start propagates.
const (
	exitFailure     = sidecarcli.ExitFailure
	exitInterrupted = sidecarcli.ExitInterrupted
)

// globals are the options every command shares.
type globals struct {
	config string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// agentArgs are the arguments after "--", for the agent.
	agentArgs []string
	hasArgs   bool
	// args are the command line as given, for completion.
	args []string
}

// run is the whole CLI, callable in-process by tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr, args: args}
	// "--" hands the rest to the agent; the CLI library would drop the marker.
	args, g.agentArgs, g.hasArgs = cliargs.Split(args)
	app := newApp(g)
	err := app.RunContext(ctx, cliargs.Intersperse(app, args))
	switch {
	case errors.As(err, new(*lifecycle.IncompleteError)):
		// The preview was shown: what a start would stop at is no failure of bottle's.
		termtext.Fprintf(stderr, "bottle: %v\n", err)
		return 1
	case errors.Is(err, lifecycle.ErrDeclined):
		fmt.Fprintln(stderr, "bottle: not started")
		return 1
	}
	return sidecarcli.ExitCode(ctx, err, stderr)
}

// newApp is bottle's command line: its commands, flags and completions, the
// one definition that run parses and the reference and man pages are made from.
func newApp(g *globals) *cli.App {
	app := &cli.App{
		Name:      "bottle",
		Usage:     "run an AI coding agent unattended in a Podman pod it cannot escape",
		Version:   version,
		Reader:    g.stdin,
		Writer:    g.stdout,
		ErrWriter: g.stderr,
		// --generate-bash-completion: what bottle completion's scripts ask.
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "use `FILE` in place of the user's config.toml", EnvVars: []string{"BOTTLE_CONFIG"}, Destination: &g.config},
			&cli.BoolFlag{Name: "debug", Usage: "log what bottle does to stderr"},
		},
		Before: sidecarcli.Logging(g.stderr),
		Commands: []*cli.Command{
			newStartCommand(g),
			newResumeCommand(g),
			newLsCommand(g),
			newInspectCommand(g),
			newAttachCommand(g),
			newStatsCommand(g),
			newStopCommand(g),
			newRmCommand(g),
			newLogsCommand(g),
			newExecCommand(g),
			newPortCommand(g),
			newGitCommand(g),
			newGCCommand(g),
			newRequestsCommand(g),
			newApproveCommand(g),
			newDenyCommand(g),
			newDashboardCommand(g),
			newConfigCommand(g),
			newKubeCommand(g),
			newCompletionCommand(g),
			newDoctorCommand(g),
			newVersionCommand(g),
			sidecarcli.Command(&sidecarcli.Options{Stderr: g.stderr, AgentArgs: g.agentArgs, HasArgs: g.hasArgs}),
			newWarmCommand(g),
			newTeardownCommand(g),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run reports errors, once
	}
	app.OnUsageError = usageErrorOf("bottle")
	onUsageErrors("bottle", app.Commands)
	for _, c := range app.Commands {
		switch c.Name {
		case "start":
			c.BashComplete = profileNames(g)
		case "config", "kube":
			for _, sub := range c.Subcommands {
				if sub.Name == "show" || sub.Name == "manifest" {
					sub.BashComplete = profileNames(g)
				}
			}
		case "resume", "attach", "inspect", "stats", "stop", "rm", "logs", "exec", "port", "requests", "approve", "deny":
			c.BashComplete = identities(g)
		case "git":
			for _, sub := range c.Subcommands {
				sub.BashComplete = identities(g)
			}
		}
	}
	return app
}

// onUsageErrors gives every command, and theirs, usageErrorOf.
func onUsageErrors(parent string, cmds []*cli.Command) {
	for _, c := range cmds {
		name := parent + " " + c.Name
		c.OnUsageError = usageErrorOf(name)
		onUsageErrors(name, c.Subcommands)
	}
}

// usageErrorOf says a mistyped option in one line, the option as the person
// typed it and where its command's help is, in place of the CLI library's
// page of help on stdout (where a pipe to jq would take it) and the flag
// package's single-dash spelling.
func usageErrorOf(command string) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			msg = "unknown option " + optionName(name)
		} else if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
			msg = "option " + optionName(name) + " needs a value"
		}
		return fmt.Errorf("%s (see %s --help)", msg, command)
	}
}

// optionName is a flag's name as typed: -x, or --name.
func optionName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// workdir is the current directory, absolute.
func workdir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the working directory: %w", err)
	}
	return wd, nil
}

// noExtraArgs refuses positional arguments beyond want.
func noExtraArgs(c *cli.Context, want int) error {
	if c.NArg() <= want {
		return nil
	}
	extra := c.Args().Get(want)
	return fmt.Errorf("unexpected argument %q (see bottle %s --help)", extra, c.Command.Name)
}
