package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/inside"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// imageOf is where the agent's image comes from: the profile's reference,
// or a Containerfile, tagged by what its content hashes to. An embedded
// Containerfile is first written into the bottle's state, to serve as its
// build context. A Containerfile or context a working directory's
// bottle.toml named is copied into the bottle's state through the working
// directory (so no link leads out) and built isolated: no network, local
// images only.
func imageOf(a *config.Agent, b *state.Bottle, workdir string) (spec.Image, error) {
	if a.Containerfile == "" {
		return spec.Image{Ref: a.Image}, nil
	}
	img := spec.Image{Containerfile: a.Containerfile, Context: a.Context}
	if name, ok := strings.CutPrefix(a.Containerfile, config.Embedded); ok {
		data, err := config.EmbeddedFile(a.Containerfile)
		if err != nil {
			return img, err
		}
		dir := agent.BuiltinBuildDir(b.AgentDir())
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return img, fmt.Errorf("write built-in Containerfile: %w", err)
		}
		img.Containerfile, img.Context = filepath.Join(dir, name), dir
		if err := os.WriteFile(img.Containerfile, data, 0o644); err != nil {
			return img, fmt.Errorf("write built-in Containerfile: %w", err)
		}
	} else if slices.Contains(a.FromWorkdir, "containerfile") || slices.Contains(a.FromWorkdir, "context") {
		var err error
		if img.Containerfile, img.Context, err = copyWorkdirBuild(a, b, workdir); err != nil {
			return img, err
		}
		img.Isolated = true
	}
	var err error
	img.Ref, err = spec.BuildRef(a.Name, img.Containerfile, img.Context)
	return img, err
}

// copyWorkdirBuild copies a working directory's Containerfile and build
// context into the bottle's state, and returns the copies.
func copyWorkdirBuild(a *config.Agent, b *state.Bottle, workdir string) (containerfile, contextDir string, err error) {
	dir := agent.WorkdirBuildDir(b.AgentDir())
	if err := os.RemoveAll(dir); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	cf, err := inside.ReadFile(workdir, a.Containerfile)
	if err != nil {
		return "", "", fmt.Errorf("read the working directory's Containerfile: %w", err)
	}
	contextDir = filepath.Join(dir, "context")
	if err := inside.CopyTree(workdir, a.Context, contextDir); err != nil {
		return "", "", fmt.Errorf("copy the working directory's build context %s: %w", a.Context, err)
	}
	containerfile = filepath.Join(dir, "Containerfile")
	return containerfile, contextDir, os.WriteFile(containerfile, cf, 0o644)
}

// buildThroughEgress builds an isolated image (a Containerfile that is not
// the user's own) whose profile allows it hosts (build_egress): the pod is
// made with its egress gateway and proxy only, serving the build's routes,
// and the build's RUN steps join the proxy's network namespace, where the
// proxy is all there is; then the agent's routes are put back and the rest
// of the pod is made. It returns the image's digest and the part of the
// plan still to start.
func buildThroughEgress(ctx context.Context, e Engine, plan *spec.Plan, in sidecars.Input, progress io.Writer) (string, *spec.Plan, error) {
	first := &spec.Plan{Pod: plan.Pod}
	rest := &spec.Plan{Pod: plan.Pod}
	for _, ct := range plan.Containers {
		if ct.OutsidePod || ct.Name == plan.Pod.Namespaces {
			first.Containers = append(first.Containers, ct)
		} else {
			rest.Containers = append(rest.Containers, ct)
		}
	}
	b := in.Bottle()
	restore, err := egress.BuildRoutes(b.EgressDir(), b.GatewayDir())
	if err != nil {
		return "", nil, err
	}
	digest, err := func() (string, error) {
		if err := e.CreatePod(ctx, plan); err != nil {
			return "", err
		}
		if err := e.CreateContainers(ctx, plan, first.Containers); err != nil {
			return "", err
		}
		if err := e.StartSidecars(ctx, first); err != nil {
			return "", err
		}
		ns, err := e.NetNSPath(ctx, plan.Pod.Namespaces)
		if err != nil {
			return "", err
		}
		img := plan.Main().Image
		img.Through = &spec.BuildNet{NetNS: ns, Proxy: "http://" + egress.ProxyAddr, CA: egress.AgentMounts(b.AgentDir())}
		return e.EnsureImage(ctx, img, progress)
	}()
	if err := errors.Join(err, restore()); err != nil {
		return "", nil, err
	}
	return digest, rest, e.CreateContainers(ctx, plan, rest.Containers)
}
