package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bottle-sandbox/bottle/spec"
)

// Stats says, for each service of a bottle's pod, that a cluster gives no
// figures here: it reports CPU and memory through its metrics API (served
// by metrics-server, when the cluster runs it), which bottle does not read,
// and kubectl top does. No figure is made up.
func (e *Engine) Stats(ctx context.Context, identity string) ([]spec.ServiceStats, error) {
	name := spec.PodName(identity)
	p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &spec.NotFoundError{Name: name}
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes: pod %s: %w", name, err)
	}
	why := fmt.Sprintf("a cluster reports CPU and memory through its metrics API, which bottle does not read: kubectl --context %s -n %s top pod -l %s=%s --containers", e.context, e.ns, spec.LabelIdentity, identity)
	var out []spec.ServiceStats
	for _, c := range p.Spec.Containers {
		if c.Name == holdName {
			continue // the engine's, not a service of the bottle
		}
		out = append(out, spec.ServiceStats{Service: c.Name, Unavailable: why})
	}
	return out, nil
}
