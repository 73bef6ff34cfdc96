// Package lifecycle holds bottle's use cases: launching a bottle (fresh or
// resumed) as a list of named steps, and listing, stopping, removing,
// collecting, deciding requests and fetching what an agent pushed. Each
// takes what it works with explicitly (an Env: the state root, an engine,
// the streams); the command only parses flags and prints, and the dashboard
// calls the same functions. It knows no engine: Engine is what it needs of
// one, Podman (package pod) the first.
package lifecycle

import (
	"context"
	"io"

	"github.com/bottle-sandbox/bottle/spec"
)

// Engine makes a bottle's plan run. Podman on a workstation is the first
// (package pod); the shape leaves room for one that cannot bind-mount host
// folders and attaches over the network: everything is said in spec's terms
// (a plan, images, names), never in an engine's.
type Engine interface {
	Info() spec.EngineInfo
	// CheckRuntime says whether the engine can run containers under an OCI
	// runtime (runsc, for gVisor).
	CheckRuntime(name string) error

	// EnsureSidecarImage makes the sidecar image from the bottle binary.
	EnsureSidecarImage(ctx context.Context, exe string) (string, error)
	ImageExists(ctx context.Context, ref string) (bool, error)
	// EnsureImage pulls or builds img when it is missing and returns its digest.
	EnsureImage(ctx context.Context, img spec.Image, progress io.Writer) (string, error)

	// CreatePod makes the plan's pod, CreateContainers some of its
	// containers (all at once, or in stages), without starting them.
	CreatePod(ctx context.Context, p *spec.Plan) error
	CreateContainers(ctx context.Context, p *spec.Plan, cs []spec.Container) error
	// StartSidecars starts every container of p but its main one, and waits
	// for each to be ready; StartContainer starts one.
	StartSidecars(ctx context.Context, p *spec.Plan) error
	StartContainer(ctx context.Context, name string) error
	// Run starts the main container attached to the streams (before runs
	// once it can take input) and returns its exit code.
	Run(ctx context.Context, name string, stdin io.Reader, stdout, stderr io.Writer, before func() error) (int, error)
	// NetNSPath is a running container's network namespace, for a build's
	// RUN steps to join.
	NetNSPath(ctx context.Context, name string) (string, error)
	// Exec runs argv in a running container as its user, attached to the
	// streams (stdin may be nil; a terminal when tty and the caller's are
	// one), and returns its exit code.
	Exec(ctx context.Context, name string, argv []string, tty bool, stdin io.Reader, stdout, stderr io.Writer) (int, error)

	// List reports the bottles of a state root (by its label).
	List(ctx context.Context, rootLabel string) ([]spec.PodInfo, error)
	PodExists(ctx context.Context, name string) (bool, error)
	StopPod(ctx context.Context, name string) error
	// RemoveBottle removes a bottle's pod and what it has beside it ("":
	// only what is beside it).
	RemoveBottle(ctx context.Context, podName, identity string) error
	Logs(ctx context.Context, name string, follow bool, stdout, stderr io.Writer) error
}
