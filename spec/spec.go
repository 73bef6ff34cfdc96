// Package spec says what a bottle is, for any engine to make: the plan of a
// pod, its containers, mounts, images and labels. It depends on no engine:
// the sidecar packages and the lifecycle produce it, and an engine (pod/,
// for Podman) applies it.
package spec

import (
	"fmt"
	"time"
)

// SidecarBinary is where the bottle binary sits in the sidecar image.
const SidecarBinary = "/bottle"

// Labels put on every pod and container bottle makes; Podman's labels are the
// truth about what runs, so `bottle ls` needs no database of its own.
const (
	LabelIdentity = "io.bottle.identity"
	LabelAgent    = "io.bottle.agent"
	LabelService  = "io.bottle.service"
	LabelRoot     = "io.bottle.root" // which state root the bottle belongs to
	LabelVersion  = "io.bottle.version"
)

// Plan is everything a bottle will be, built without talking to Podman.
type Plan struct {
	Pod        PodSpec     `json:"pod"`
	Containers []Container `json:"containers"` // started in order: the pod's Namespaces one first in the pod, the Main one last
}

// PodSpec describes the pod. It has no infra container: its first container
// in the pod, Namespaces, makes a loopback-only network namespace and,
// rootless, a user namespace that maps the invoking user onto itself
// (keep-id); the pod's other containers join both. An infra container would
// hold them instead, at the price of one more container to create, start and
// remove on every launch (about a fifth of bottle's start-up here).
type PodSpec struct {
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels"`
	Namespaces string            `json:"namespaces"`
	KeepID     bool              `json:"keep_id,omitempty"`
}

// Container is one container of the pod.
type Container struct {
	Name    string            `json:"name"`
	Service string            `json:"service"`
	Image   Image             `json:"image"`
	Command []string          `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	WorkDir string            `json:"workdir,omitempty"`
	User    string            `json:"user,omitempty"`
	Mounts  []Mount           `json:"mounts,omitempty"`
	Labels  map[string]string `json:"labels"`
	// Runtime names the OCI runtime ("" for Podman's default); RuntimeSandbox
	// makes a gVisor container start its own sandbox in the pod's network namespace.
	Runtime        string    `json:"runtime,omitempty"`
	RuntimeSandbox bool      `json:"runtime_sandbox,omitempty"`
	Resources      Resources `json:"resources"`
	// Main marks the agent: attached to the caller's terminal, its exit code is the bottle's.
	Main bool `json:"main,omitempty"`
	// OutsidePod puts the container beside the pod, on the host's network
	// (the egress gateway): it shares nothing with the pod but the folders mounted into both.
	OutsidePod bool `json:"outside_pod,omitempty"`
	// Ready are host files the container makes once it serves (one per
	// service it runs); the agent starts only after every sidecar's exist.
	Ready []string `json:"ready,omitempty"`
}

// Image says where a container's image comes from: a reference to pull when
// missing, or a Containerfile to build and tag as Ref.
type Image struct {
	Ref           string `json:"ref"`
	Containerfile string `json:"containerfile,omitempty"`
	Context       string `json:"context,omitempty"`
	// Isolated builds a Containerfile that is not the user's own (a
	// working directory's, an agent's request) with no network at all and
	// from local images only: its RUN steps reach nothing, and no pull
	// carries data out in an image name.
	Isolated bool `json:"isolated,omitempty"`
	// Through is, for an isolated build that may reach the hosts the
	// user's config allows it, how: the RUN steps join a network namespace
	// where the bottle's egress proxy serves.
	Through *BuildNet `json:"-"`
}

// BuildNet is a network namespace a build's RUN steps join, the proxy in it
// and the CA files it intercepts TLS with, mounted as in the agent's container.
type BuildNet struct {
	NetNS string
	Proxy string
	CA    []Mount
}

// Mount is a bind mount from the host.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// Secret marks credentials (a file, or a folder of them): an engine
	// that keeps them apart (a Kubernetes Secret) mounts them into this
	// container alone.
	Secret bool `json:"secret,omitempty"`
	// Sockets marks a folder that holds only the sockets the bottle's
	// containers talk over: an engine may give it a folder of the pod's
	// own that ends with it (a Kubernetes emptyDir, shared inside a gVisor
	// sandbox, where a socket on a host folder is not).
	Sockets bool `json:"sockets,omitempty"`
}

// Resources are the limits of one container; zero means unlimited.
type Resources struct {
	MemoryBytes int64   `json:"memory_bytes,omitempty"`
	CPUs        float64 `json:"cpus,omitempty"`
	Pids        int64   `json:"pids,omitempty"`
}

// Main returns the plan's main container.
func (p *Plan) Main() *Container {
	for i := range p.Containers {
		if p.Containers[i].Main {
			return &p.Containers[i]
		}
	}
	return nil
}

// EngineInfo is what an engine says of itself, for the preflight and the plan.
type EngineInfo struct {
	Name     string // "podman"
	Version  string // the server's version
	Rootless bool
	// UID and GID are the caller's own, which a rootless engine maps into the pod.
	UID, GID int
	// Ephemeral: the engine lives only as long as this command (a private
	// Podman service started for it), so no bottle can outlive it.
	Ephemeral bool
	// Where says, for the preflight, where bottles run ("rootless", "context
	// X, namespace Y").
	Where string
	// Context and Namespace are a cluster engine's.
	Context, Namespace string
}

// PodInfo is what an engine reports of one bottle's pod.
type PodInfo struct {
	Name     string
	Identity string
	Agent    string
	Status   string
	Created  time.Time
	// Containers are the states of the pod's containers ("running",
	// "exited", ...), by name.
	Containers map[string]string
}

// NotFoundError is returned for a pod or container that does not exist.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s does not exist", e.Name) }
