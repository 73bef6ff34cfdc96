package main

import (
	"context"
	"fmt"
	"os"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/state"
)

// withEnv connects to the engine and runs f with what every use case takes:
// the state root, the engine, this command's streams, and a way to ask the
// person at the terminal.
func withEnv(ctx context.Context, g *globals, f func(lifecycle.Env) error) error {
	return withEngine(ctx, g, config.EnginePodman, config.Kubernetes{}, f)
}

// withEngine is withEnv with new bottles going to the engine named:
// Podman, or the cluster the user's [kubernetes] says. Calls about an
// existing bottle go to the engine it records, whatever this one is.
func withEngine(ctx context.Context, g *globals, engine string, k config.Kubernetes, f func(lifecycle.Env) error) error {
	root, err := state.DefaultRoot()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the bottle binary for the sidecar image: %w", err)
	}
	e := newEngines(ctx, root, engine, k)
	defer e.Close()
	// The engine new bottles go to answers now, so its trouble shows first.
	if _, err := e.defEngine(); err != nil {
		return err
	}
	return f(lifecycle.Env{
		Root: root, Engine: e, Stdin: g.stdin, Stdout: g.stdout, Stderr: g.stderr,
		Version: version, Exe: exe,
		Ask: func(ctx context.Context, question string) error { return ask(ctx, g.stdin, g.stderr, question) },
	})
}
