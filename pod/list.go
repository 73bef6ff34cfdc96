package pod

import (
	"context"
	"slices"

	"github.com/bottle-sandbox/bottle/spec"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/pods"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
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
	// A bottle's services beside its pod (the egress gateway) are its too.
	beside, err := c.besidePods(ctx, spec.LabelRoot+"="+root)
	if err != nil {
		return nil, err
	}
	for _, ct := range beside {
		for i := range out {
			if service, ok := serviceBeside(out[i].Identity, ct); ok {
				out[i].Containers[service] = ct.State
			}
		}
	}
	return out, nil
}

// serviceBeside is the service of a bottle a container beside its pod runs.
func serviceBeside(identity string, ct types.ListContainer) (string, bool) {
	if ct.Labels[spec.LabelIdentity] != identity || len(ct.Names) == 0 {
		return "", false
	}
	return spec.ServiceOf(identity, ct.Names[0])
}

// besidePods are the containers with the label (key=value) that are in no
// pod.
func (c *Conn) besidePods(ctx context.Context, label string) ([]types.ListContainer, error) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	list, err := containers.List(cctx, new(containers.ListOptions).WithAll(true).WithFilters(map[string][]string{"label": {label}}))
	if err != nil {
		return nil, c.errorf(err, "list containers")
	}
	return slices.DeleteFunc(list, func(ct types.ListContainer) bool { return ct.Pod != "" }), nil
}
