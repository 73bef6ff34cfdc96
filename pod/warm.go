package pod

import (
	"context"
	"os"
	"slices"

	"github.com/bottle-sandbox/bottle/spec"

	"github.com/containers/podman/v5/pkg/bindings/containers"
)

// Warm makes a bottle's egress ahead of its claim: the sidecar image (of
// the bottle binary exe), the pod, and the plan's gateway and proxy,
// started and ready. The plan holds those alone; when the bottle is
// claimed, Create makes the rest of the claim's plan in the pod that is
// there and Up starts it (what runs already is left so).
func (c *Conn) Warm(ctx context.Context, p *spec.Plan, exe string) error {
	if _, err := c.ensureSidecarImage(ctx, exe); err != nil {
		return err
	}
	return c.upEgress(ctx, p)
}

// upEgress makes the pod with the plan's egress alone (the containers
// beside the pod and the one that makes its namespaces) and starts it.
func (c *Conn) upEgress(ctx context.Context, p *spec.Plan) error {
	egress, _ := egressFirst(p)
	if err := c.createPod(ctx, p); err != nil {
		return err
	}
	if err := c.createContainers(ctx, p, egress); err != nil {
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
