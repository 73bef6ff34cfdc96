package main

import (
	"context"
	"errors"
	"io"

	"github.com/bottle-sandbox/bottle/pod"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/spec"
)

// buildThroughEgress builds an isolated image (a Containerfile that is not
// the user's own) whose profile allows it hosts (build_egress): the pod is
// made with its egress gateway and proxy only, serving the build's routes,
// and the build's RUN steps join the proxy's network namespace, where the
// proxy is all there is; then the agent's routes are put back and the rest
// of the pod is made. It returns the image's digest and the part of the
// plan still to start.
func buildThroughEgress(ctx context.Context, conn *pod.Conn, plan *spec.Plan, in sidecars.Input, progress io.Writer) (string, *spec.Plan, error) {
	first := &spec.Plan{Pod: plan.Pod}
	rest := &spec.Plan{Pod: plan.Pod}
	for _, ct := range plan.Containers {
		if ct.OutsidePod || ct.Name == plan.Pod.Namespaces {
			first.Containers = append(first.Containers, ct)
		} else {
			rest.Containers = append(rest.Containers, ct)
		}
	}
	egressDir, gatewayDir := in.Bottle().EgressDir(), in.Bottle().GatewayDir()
	restore, err := egress.BuildRoutes(egressDir, gatewayDir)
	if err != nil {
		return "", nil, err
	}
	digest, err := func() (string, error) {
		if err := conn.CreatePod(ctx, plan); err != nil {
			return "", err
		}
		if err := conn.CreateContainers(ctx, plan, first.Containers); err != nil {
			return "", err
		}
		if err := conn.StartSidecars(ctx, first); err != nil {
			return "", err
		}
		ns, err := conn.NetNSPath(ctx, plan.Pod.Namespaces)
		if err != nil {
			return "", err
		}
		img := plan.Main().Image
		img.Through = &spec.BuildNet{NetNS: ns, Proxy: "http://" + egress.ProxyAddr, CA: egress.AgentMounts(in.Bottle().AgentDir())}
		return conn.EnsureImage(ctx, img, progress)
	}()
	if err := errors.Join(err, restore()); err != nil {
		return "", nil, err
	}
	return digest, rest, conn.CreateContainers(ctx, plan, rest.Containers)
}
