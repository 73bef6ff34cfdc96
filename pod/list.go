package pod

import (
	"context"

	"github.com/bottle-sandbox/bottle/spec"

	"github.com/containers/podman/v5/pkg/bindings/pods"
)

// List returns the pods of one state root, found by label.
func (c *Conn) List(ctx context.Context, root string) ([]spec.PodInfo, error) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	reps, err := pods.List(cctx, new(pods.ListOptions).WithFilters(map[string][]string{"label": {spec.LabelRoot + "=" + root}}))
	if err != nil {
		return nil, c.errorf(err, "list pods")
	}
	out := make([]spec.PodInfo, 0, len(reps))
	for _, r := range reps {
		info := spec.PodInfo{Name: r.Name, Identity: r.Labels[spec.LabelIdentity], Agent: r.Labels[spec.LabelAgent], Status: r.Status, Created: r.Created, Containers: map[string]string{}}
		for _, ct := range r.Containers {
			if service, ok := spec.ServiceOf(info.Identity, ct.Names); ok {
				info.Containers[service] = ct.Status
			}
		}
		out = append(out, info)
	}
	return out, nil
}
