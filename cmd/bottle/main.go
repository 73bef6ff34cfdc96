// Command bottle runs an AI coding agent unattended inside a Podman pod it
// cannot modify or escape.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time by the Makefile.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
