package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/bottle-sandbox/bottle/spec"
)

// ErrNotYet is what the cluster engine answers, so far, to anything but
// planning: it prints the objects a start would create, and does not yet
// make them (`bottle kube manifest`).
var ErrNotYet = errors.New("bottles do not run on Kubernetes yet: bottle kube manifest prints the objects a start would make")

// Planner is the cluster engine as far as it goes: it describes the cluster
// a bottle is planned for, and can plan one; making it run comes next.
type Planner struct {
	Context   string // the kubeconfig context ("": the current one)
	Namespace string
}

// Info describes the cluster for the preflight and the plan: the pod's
// users are fixed (Objects), so the plan's are never the caller's.
func (p Planner) Info() spec.EngineInfo {
	ctx := p.Context
	if ctx == "" {
		ctx = "the current context"
	}
	return spec.EngineInfo{Name: "kubernetes", UID: int(AgentUID), GID: int(AgentUID), Where: ctx + ", namespace " + p.Namespace}
}

// CheckRuntime: a runsc bottle asks for a RuntimeClass, which the API
// server checks when the pod is made.
func (Planner) CheckRuntime(string) error { return nil }

func (Planner) EnsureSidecarImage(context.Context, string) (string, error) { return "", ErrNotYet }
func (Planner) ImageExists(context.Context, string) (bool, error)          { return false, ErrNotYet }
func (Planner) EnsureImage(context.Context, spec.Image, io.Writer) (string, error) {
	return "", ErrNotYet
}
func (Planner) CreatePod(context.Context, *spec.Plan) error { return ErrNotYet }
func (Planner) CreateContainers(context.Context, *spec.Plan, []spec.Container) error {
	return ErrNotYet
}
func (Planner) StartSidecars(context.Context, *spec.Plan) error { return ErrNotYet }
func (Planner) StartContainer(context.Context, string) error    { return ErrNotYet }
func (Planner) Run(context.Context, string, io.Reader, io.Writer, io.Writer, func() error) (int, error) {
	return 0, ErrNotYet
}
func (Planner) NetNSPath(context.Context, string) (string, error) { return "", ErrNotYet }
func (Planner) Exec(context.Context, string, []string, bool, io.Reader, io.Writer, io.Writer) (int, error) {
	return 0, ErrNotYet
}
func (Planner) List(context.Context, string) ([]spec.PodInfo, error)           { return nil, nil }
func (Planner) PodExists(context.Context, string) (bool, error)                { return false, nil }
func (Planner) StopPod(context.Context, string) error                          { return ErrNotYet }
func (Planner) RemoveBottle(context.Context, string, string) error             { return nil }
func (Planner) Logs(context.Context, string, bool, io.Writer, io.Writer) error { return ErrNotYet }

// YAML writes the bottle's objects as one YAML stream, for review or
// GitOps. Secrets are written with their keys and no values: bottle start
// fills them from the host.
func (b *Bottle) YAML(w io.Writer) error {
	objs := []any{b.Volume}
	for _, s := range b.Secrets {
		objs = append(objs, s.Secret)
	}
	objs = append(objs, b.Policy, b.Pod)
	var out bytes.Buffer
	for i, o := range objs {
		data, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("write the manifest: %w", err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(data)
	}
	_, err := w.Write(out.Bytes())
	return err
}
