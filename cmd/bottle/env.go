package main

import (
	"context"
	"fmt"
	"os"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/kube"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/pod"
	"github.com/bottle-sandbox/bottle/state"
)

// withEnv connects to the engine and runs f with what every use case takes:
// the state root, the engine, this command's streams, and a way to ask the
// person at the terminal.
func withEnv(ctx context.Context, g *globals, f func(lifecycle.Env) error) error {
	return withEngine(ctx, g, config.EnginePodman, config.Kubernetes{}, f)
}

// withEngine is withEnv on the engine named: Podman, or the cluster the
// user's [kubernetes] says.
func withEngine(ctx context.Context, g *globals, engine string, k config.Kubernetes, f func(lifecycle.Env) error) error {
	root, err := state.DefaultRoot()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the bottle binary for the sidecar image: %w", err)
	}
	var e lifecycle.Engine
	if engine == config.EngineKubernetes {
		kc, err := kube.Connect(ctx, k, root.Dir)
		if err != nil {
			return err
		}
		defer kc.Close()
		e = kc
	} else {
		conn, err := pod.Connect(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		e = conn
	}
	return f(lifecycle.Env{
		Root: root, Engine: e, Stdin: g.stdin, Stdout: g.stdout, Stderr: g.stderr,
		Version: version, Exe: exe,
		Ask: func(ctx context.Context, question string) error { return ask(ctx, g.stdin, g.stderr, question) },
	})
}
