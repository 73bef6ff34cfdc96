package pod

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"slices"

	"github.com/bottle-sandbox/bottle/spec"

	"github.com/containers/podman/v5/pkg/bindings/containers"
)

// Warm makes a bottle ahead of its claim: the sidecar image (of the bottle
// binary exe), the pod, and the plan's gateway and proxy, started and
// ready; and, when the plan has the agent's container and this engine
// starts it ahead of its go-ahead (ahead: rootful, runc), its image and
// that container, started, its process waiting (it reports whether).
// When the bottle is claimed, Create makes the rest of the claim's plan in
// the pod that is there and Up starts it (what runs already is left so).
func (c *Conn) Warm(ctx context.Context, p *spec.Plan, exe string) (bool, error) {
	ahead := false
	c.exe = exe
	if main := p.Main(); main != nil && c.ahead(*main) {
		if _, err := c.Images(ctx, p, exe, io.Discard); err != nil {
			return false, err
		}
		ahead = true
	} else {
		egress, _ := egressFirst(p)
		p = &spec.Plan{Pod: p.Pod, Containers: egress}
		if _, err := c.ensureSidecarImage(ctx, exe); err != nil {
			return false, err
		}
	}
	if err := c.createPod(ctx, p); err != nil {
		return false, err
	}
	if err := c.createContainers(ctx, p, p.Containers, false); err != nil {
		return false, err
	}
	return ahead, c.startSidecars(ctx, p)
}

// Refit keeps the agent's container made ahead of a claim (made's) when it
// is the one the claim's plan has (want's), but for what its go-ahead
// brings: its command, its workspace and what is mounted beneath it.
// Otherwise it removes it, and Create makes the claim's.
func (c *Conn) Refit(ctx context.Context, madePlan, wantPlan *spec.Plan) error {
	made, want := *madePlan.Main(), *wantPlan.Main()
	if c.ahead(want) && aheadForm(made) == aheadForm(want) {
		return nil
	}
	cctx, cancel := c.call(context.WithoutCancel(ctx))
	defer cancel()
	if _, err := containers.Remove(cctx, made.Name, new(containers.RemoveOptions).WithForce(true).WithTimeout(0)); err != nil && !isNotFound(err) {
		return c.errorf(err, "remove container %s", made.Name)
	}
	return nil
}

// aheadForm is a container as made ahead of its go-ahead, as JSON.
func aheadForm(ct spec.Container) string {
	ct.Command = nil
	ct.Mounts, _ = lateMounts(ct)
	data, _ := json.Marshal(ct)
	return string(data)
}

// upEgress makes the pod with the plan's egress alone (the containers
// beside the pod and the one that makes its namespaces) and starts it.
func (c *Conn) upEgress(ctx context.Context, p *spec.Plan) error {
	egress, _ := egressFirst(p)
	if err := c.createPod(ctx, p); err != nil {
		return err
	}
	if err := c.createContainers(ctx, p, egress, false); err != nil {
		return err
	}
	return c.startSidecars(ctx, &spec.Plan{Pod: p.Pod, Containers: egress})
}

// startSidecar starts a sidecar's container, unless it runs and serves
// already: every ready file of it there (a launch removes them before it
// starts a bottle, so a cold start asks nothing more) and the engine
// saying it runs. A warm bottle's egress, or one started for an isolated
// build, is so: starting it again would leave the error of that start in
// its state (Podman 5: "container is running"), where a cold one has none.
func (c *Conn) startSidecar(ctx context.Context, ct spec.Container) error {
	if len(ct.Ready) > 0 && !slices.ContainsFunc(ct.Ready, func(f string) bool { _, err := os.Stat(f); return err != nil }) {
		cctx, cancel := c.call(ctx)
		data, err := containers.Inspect(cctx, ct.Name, nil)
		cancel()
		if err == nil && data.State != nil && data.State.Running {
			return nil
		}
	}
	return c.startContainer(ctx, ct.Name)
}
