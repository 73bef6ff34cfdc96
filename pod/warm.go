package pod

import (
	"context"

	"github.com/bottle-sandbox/bottle/spec"
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
