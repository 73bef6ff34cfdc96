package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/bottle-sandbox/bottle/engines"
	"github.com/bottle-sandbox/bottle/internal/sidecarcli"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/state"
)

// withEnv connects to the engine and runs f with what every use case takes:
// the state root, the engine, this command's streams, and a way to ask the
// person at the terminal.
func withEnv(ctx context.Context, g *globals, f func(lifecycle.Env) error) error {
	return withRouter(ctx, g, true, func(root state.Root) *engines.Router { return engines.New(ctx, root, nil, "") }, f)
}

// withBottles is withEnv for commands about bottles that exist (inspect,
// exec, port, requests, approve, deny, git fetch): an engine is reached
// only when a bottle's call needs it, so a bottle that does not exist is
// said to be so, whatever engine is or is not installed.
func withBottles(ctx context.Context, g *globals, f func(lifecycle.Env) error) error {
	return withRouter(ctx, g, false, func(root state.Root) *engines.Router { return engines.New(ctx, root, nil, "") }, f)
}

// withRouter runs f with the router route makes: calls about an existing
// bottle go to the engine it records, a new bottle's where route says.
// With check, the engine new bottles go to answers first, so its trouble
// shows first.
func withRouter(ctx context.Context, g *globals, check bool, route func(state.Root) *engines.Router, f func(lifecycle.Env) error) error {
	root, err := state.DefaultRoot()
	if err != nil {
		return err
	}
	exe, sidecar, err := binaries()
	if err != nil {
		return err
	}
	e := route(root)
	defer e.Close()
	if check {
		if err := e.Check(); err != nil {
			return err
		}
	}
	env := lifecycle.Env{
		Root: root, Engine: e, Stdin: g.stdin, Stdout: g.stdout, Stderr: g.stderr, TTY: isTerminal(g.stdin) && isTerminal(g.stdout),
		Version: version, Exe: exe, Sidecar: sidecar, HandOff: handOff(exe),
		Ask:    func(ctx context.Context, question string) error { return ask(ctx, g.stdin, g.stderr, question) },
		Warmer: e, Refill: refillInBackground(g, root, exe, "", ""),
	}
	// A session's teardown that its process did not finish (killed) is
	// finished by the next bottle command.
	finished, err := lifecycle.FinishTeardowns(ctx, env)
	for _, id := range finished {
		fmt.Fprintf(g.stderr, "bottle: finished the teardown of %s (its process ended before it was done)\n", id)
	}
	if err != nil {
		termtext.Fprintf(g.stderr, "bottle: %v\n", err)
	}
	return f(env)
}

// binaries are the bottle binary, which a handed-off teardown and the warm
// keeper run, and the binary the containers run: the sidecar binary
// beside it when it is of the same build, else the bottle binary.
func binaries() (exe, sidecar string, err error) {
	exe, err = os.Executable()
	if err != nil {
		return "", "", fmt.Errorf("find the bottle binary: %w", err)
	}
	self, _ := debug.ReadBuildInfo()
	return exe, sidecarcli.Binary(exe, self), nil
}
