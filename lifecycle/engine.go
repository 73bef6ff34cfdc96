// Package lifecycle holds bottle's use cases: launching a bottle (fresh or
// resumed) as a list of named steps, and listing, stopping, removing,
// collecting, deciding requests and fetching what an agent pushed. Each
// takes what it works with explicitly (an Env: the state root, an engine,
// the streams); the command only parses flags and prints, and the dashboard
// calls the same functions. It knows no engine: Engine is what it needs of
// one.
package lifecycle

import (
	"context"
	"io"

	"github.com/bottle-sandbox/bottle/spec"
)

// Engine makes a bottle's plan run, and answers for the bottles it runs,
// each by its identity and a service's name. Podman on this machine
// (package pod) and a Kubernetes cluster (package kube) are engines; so is
// the router (package engines), which sends each call about a bottle to
// the engine its folder records. Everything is said in spec's terms.
type Engine interface {
	// Info says what the engine is and where its bottles run.
	Info() spec.EngineInfo
	// CheckRuntime says whether the engine runs containers under an OCI
	// runtime (runsc, for gVisor).
	CheckRuntime(ctx context.Context, name string) error

	// Images makes what the plan runs available to the engine: the
	// sidecar image, made of the sidecar binary exe, and the agent's,
	// pulled or built; it returns the agent image's digest. An isolated
	// build that may reach hosts (the agent image's Through) builds in
	// the bottle's own network behind its egress, brought up for it
	// before the rest of the bottle where the engine can.
	Images(ctx context.Context, p *spec.Plan, exe string, progress io.Writer) (string, error)
	// HasImage says whether the engine p runs on holds the image ref
	// already, so that a start neither pulls nor builds it (a preview asks).
	HasImage(ctx context.Context, p *spec.Plan, ref string) (bool, error)
	// Create makes the bottle of the plan, nothing of it started: its pod
	// and containers, or a cluster's objects.
	Create(ctx context.Context, p *spec.Plan) error
	// Up starts a created bottle, its sidecars each ready before the
	// agent, saying on s.Stderr what keeps it waiting: attached to s until
	// the agent ends (its exit code; what the agent did is in the bottle's
	// folder by then), or detached.
	Up(ctx context.Context, p *spec.Plan, s spec.Streams, detach bool) (int, error)
	// Sync brings a running bottle's folder in step with the host's as x
	// says, for an engine that keeps it apart (a cluster's volume); where
	// the host's folder is the bottle's own (Podman), there is nothing to do.
	Sync(ctx context.Context, identity string, x spec.Exchange) error

	// Exec runs argv in the container of one of a running bottle's
	// services, as its user, attached to s (a terminal when s.TTY), and
	// returns its exit code.
	Exec(ctx context.Context, identity, service string, argv []string, s spec.Streams) (int, error)
	// Attach attaches s to the running container of one of a bottle's
	// services (the agent's) until it ends (its exit code) or the person
	// detaches (spec.ErrDetached; it runs on).
	Attach(ctx context.Context, identity, service string, s spec.Streams) (int, error)
	// Logs copies the output of one of a bottle's services' containers.
	Logs(ctx context.Context, identity, service string, follow bool, stdout, stderr io.Writer) error

	// Stats reports the figures of each of a running bottle's services,
	// from one short sample (a spec.NotFoundError: it has no pod).
	Stats(ctx context.Context, identity string) ([]spec.ServiceStats, error)

	// List reports the bottles of a state root (by its label).
	List(ctx context.Context, rootLabel string) ([]spec.PodInfo, error)
	// Exists says whether the engine has anything of the bottle.
	Exists(ctx context.Context, identity string) (bool, error)
	// Stop stops a bottle, what it did brought into its folder first; a
	// resume makes it again. Nothing to stop is not an error.
	Stop(ctx context.Context, identity string) error
	// Remove removes all of a bottle the engine holds, whatever state it
	// is in. Nothing to remove is not an error.
	Remove(ctx context.Context, identity string) error
}
