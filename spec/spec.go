// Package spec says what a bottle is, for any engine to make: the plan of a
// pod, its containers, mounts, images and labels. It depends on no engine:
// the sidecar packages and the lifecycle produce it, and an engine (pod/,
// for Podman) applies it.
package spec

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// StageWaiting is the file an engine that starts the main container ahead
// of its go-ahead keeps in the container's Stage while its process waits
// for the go-ahead: a bottle whose agent runs with it there, and that no
// bottle command holds, will never run its agent's command.
const StageWaiting = "waiting"

// SidecarBinary is where the sidecar binary (bottle-sidecar, or the bottle
// binary when there is none of the same build) sits in the sidecar image.
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
	// Workspace is how the agent has the working directory: a bind mount
	// of it, or a copy in the bottle's folder (an engine that cannot mount
	// the host's folders takes only a copy).
	Workspace string `json:"workspace,omitempty"`
	// Dials are where the bottle's egress gateway connects (its routes'
	// upstreams, the git gate's remotes): all an engine's own network
	// policy needs to let out of the pod.
	Dials []Dial `json:"dials,omitempty"`
	// Exchange is what of the bottle's folder an engine that keeps it apart
	// from the host's brings in step while the bottle runs.
	Exchange Exchange `json:"exchange"`
}

// A Dial is a place the egress gateway connects to: a host (a name, a
// wildcard such as *.example.com, or an address) and a TCP port.
type Dial struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// Exchange names, below a bottle's folder, what an engine that keeps the
// bottle's folders apart from the host's (a cluster's volume) brings in
// step while it runs; an engine that mounts the host's folders has nothing
// to do.
type Exchange struct {
	// In are folders the bottle makes new files in, which the host takes
	// (an agent's requests); a file the host has already stays the host's.
	In []string `json:"in,omitempty"`
	// Out are files and folders the host changes, which the bottle takes
	// (its routes, the person's answers).
	Out []string `json:"out,omitempty"`
	// Hold says of a file below Out whether the host keeps it back for now
	// (a request nobody has decided: the bottle's to change).
	Hold func(rel string) bool `json:"-"`
	// Back are folders copied from the bottle over the host's whole, at
	// once (what bottle git fetch reads while the bottle runs).
	Back []string `json:"back,omitempty"`
	// Dials, when set, are where the egress gateway connects now (an
	// approval adds routes): an engine's network policy follows them.
	Dials []Dial `json:"dials,omitempty"`
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
	// TTY gives the main container a terminal: the caller's streams are one.
	TTY bool `json:"tty,omitempty"`
	// Stage is a host folder of the bottle's, written by no container, in
	// which an engine may keep what it needs to start the main container
	// ahead of its go-ahead ("": none).
	Stage string `json:"stage,omitempty"`
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
	// user's config allows it (build_egress), how: its RUN steps reach them
	// through the bottle's own egress proxy, in the pod's network, where an
	// engine can bring that up before the rest of the bottle.
	Through *BuildNet `json:"through,omitempty"`
}

// BuildNet is the bottle's egress as a build's RUN steps reach it: the
// proxy's address and the CA files it intercepts TLS with, mounted as in
// the agent's container.
type BuildNet struct {
	Proxy string  `json:"proxy"`
	CA    []Mount `json:"ca"`
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
	// Expect, when set, is what the source was when the bottle recorded
	// it (a bind workspace, a nested repository's git metadata): an
	// engine that opens the source itself refuses another entry there.
	Expect *FileID `json:"expect,omitempty"`
}

// FileID names a file or folder by its device and inode.
type FileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
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
	// Ephemeral says why the engine lives only as long as this command (a
	// private Podman service started for it), so no bottle can outlive it,
	// and Lasting how to have one that outlives it ("": it does).
	Ephemeral, Lasting string
	// CopyOnly: the engine cannot mount the host's folders, so a bottle's
	// workspace is a copy.
	CopyOnly bool
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
	// "exited", ...), by service.
	Containers map[string]string
}

// Streams are what a command attaches a process to; TTY says they are a
// terminal (whose stderr is its stdout).
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
}

// PodName is the name of a bottle's pod, ContainerName that of one of its
// services' containers: bottle's names are made here and nowhere else.
func PodName(identity string) string { return "bottle-" + identity }

// ContainerName is the name of the container of one of a bottle's services.
func ContainerName(identity, service string) string { return PodName(identity) + "-" + service }

// ServiceOf is the service whose container of the bottle identity is named
// name, as ContainerName made it.
func ServiceOf(identity, name string) (string, bool) {
	return strings.CutPrefix(name, PodName(identity)+"-")
}

// ErrMisfit is an engine's word that the bottle made ahead of its claim (a
// warm bottle) is not the one this start's plan makes, and cannot be made
// so: the claim removes it and starts cold.
var ErrMisfit = errors.New("the warm bottle does not fit this start")

// ErrDetached is an attach that ended with the service running on: the
// person detached.
var ErrDetached = errors.New("detached")

// ErrInputClosed is a detach (errors.Is ErrDetached) after which the
// engine closed the service's input: one that reads it ends.
var ErrInputClosed = fmt.Errorf("%w, its input closed", ErrDetached)

// NotFoundError is returned for a pod or container that does not exist.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s does not exist", e.Name) }

// ServiceStats is what an engine reports of one running service's use of
// the machine: CPU (percent of one CPU, over a short sample), memory in
// use and its limit (0: none), processes. Unavailable says why there are
// no figures (they are zero then): the engine cannot give them, or the
// service is not running.
type ServiceStats struct {
	Service     string  `json:"service"`
	CPU         float64 `json:"cpu_percent"`
	Memory      uint64  `json:"memory_bytes"`
	MemoryLimit uint64  `json:"memory_limit_bytes,omitempty"`
	PIDs        uint64  `json:"pids"`
	Unavailable string  `json:"unavailable,omitempty"`
}
