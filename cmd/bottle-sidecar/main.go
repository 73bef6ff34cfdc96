// Command bottle-sidecar is what runs in a bottle's containers: the
// "bottle sidecar" command tree alone, without the engines' libraries the
// bottle binary links (Kubernetes' client, Podman's bindings, the image
// libraries). A fifth of bottle's size, it starts in half the time, and
// every sidecar's start is on a bottle's critical path. bottle uses it
// when it sits beside the bottle binary, built from the same source;
// otherwise the bottle binary runs in the containers itself.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bottle-sandbox/bottle/internal/sidecarcli"
)

// version is stamped by the Makefile, as bottle's is.
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := sidecarcli.Run(ctx, version, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
