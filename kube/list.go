package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bottle-sandbox/bottle/spec"
)

// List reports the bottles of a state root on the cluster, by its label.
func (e *Engine) List(ctx context.Context, rootLabel string) ([]spec.PodInfo, error) {
	pods, err := e.cs.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: spec.LabelRoot + "=" + rootLabel})
	if err != nil {
		return nil, fmt.Errorf("kubernetes: list the bottles: %w", err)
	}
	var out []spec.PodInfo
	for _, p := range pods.Items {
		info := spec.PodInfo{Name: p.Name, Identity: p.Labels[spec.LabelIdentity], Agent: p.Labels[spec.LabelAgent],
			Status: strings.ToLower(string(p.Status.Phase)), Created: p.CreationTimestamp.Time, Containers: map[string]string{}}
		for _, s := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			if s.Name == isolateName || s.Name == keeperName || s.Name == holdName {
				continue // the engine's own, not a service of the bottle
			}
			state := "created"
			switch {
			case s.State.Running != nil:
				state = "running"
			case s.State.Terminated != nil:
				state = "exited"
			}
			info.Containers[s.Name] = state // a container is named for its service
		}
		out = append(out, info)
	}
	return out, nil
}

// Exists says whether the bottle's pod is on the cluster.
func (e *Engine) Exists(ctx context.Context, identity string) (bool, error) {
	_, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, spec.PodName(identity), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// Stop copies the bottle's folders back (the agent may have been at work,
// detached) and removes the bottle from the cluster: a resume makes it
// again from its folders.
func (e *Engine) Stop(ctx context.Context, identity string) error {
	name := spec.PodName(identity)
	if p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{}); err == nil && running(p.Status.InitContainerStatuses, keeperName) {
		if err := e.unseed(ctx, name, e.folder(identity)); err != nil {
			return err
		}
	}
	return e.Remove(ctx, identity)
}

// Remove removes everything a bottle made on the cluster, by its
// identity's label: pod, Secrets, NetworkPolicy, volume.
func (e *Engine) Remove(ctx context.Context, identity string) error {
	sel := metav1.ListOptions{LabelSelector: spec.LabelIdentity + "=" + identity}
	del := metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}
	errs := []error{
		e.cs.CoreV1().Pods(e.ns).DeleteCollection(ctx, del, sel),
		e.cs.CoreV1().Secrets(e.ns).DeleteCollection(ctx, del, sel),
		e.cs.NetworkingV1().NetworkPolicies(e.ns).DeleteCollection(ctx, del, sel),
		e.cs.CoreV1().PersistentVolumeClaims(e.ns).DeleteCollection(ctx, del, sel),
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kubernetes: remove %s: %w", identity, err)
	}
	return nil
}
