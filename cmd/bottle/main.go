// Command bottle runs an AI coding agent unattended inside a Podman pod it
// cannot modify or escape.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// version, commit and buildDate are stamped by the Makefile; a plain go
// build or go install leaves them to the build information (see version.go).
var version, commit, buildDate string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
