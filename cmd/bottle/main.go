// Command bottle runs an AI coding agent unattended inside a Podman pod it
// cannot modify or escape.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
)

// version, commit and buildDate are stamped by the Makefile; a plain go
// build or go install leaves them to the build information (see version.go).
var version, commit, buildDate string

func main() {
	gitgate.ChildMain() // when started as the reader of a git folder a container wrote
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
