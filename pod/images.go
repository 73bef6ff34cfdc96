package pod

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bottle-sandbox/bottle/spec"

	"github.com/containers/buildah/define"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
)

// Images makes the sidecar image and the agent's; an isolated build that
// may reach hosts (Through) and is not made yet runs in the pod's own
// network, the bottle's egress (gateway and proxy) made and started for
// it first: Create makes the rest.
func (c *Conn) Images(ctx context.Context, p *spec.Plan, exe string, progress io.Writer) (string, error) {
	t0 := time.Now()
	c.exe = exe
	if _, err := c.ensureSidecarImage(ctx, exe); err != nil {
		return "", err
	}
	slog.Debug("sidecar image", "took", time.Since(t0).Round(time.Millisecond))
	img := p.Main().Image
	if img.Through != nil {
		exists, err := c.imageExists(ctx, img.Ref)
		if err != nil {
			return "", err
		}
		if !exists {
			return c.buildThroughEgress(ctx, p, progress)
		}
	}
	return c.ensureImage(ctx, img, "", progress)
}

// buildThroughEgress makes the pod with its egress alone, starts it, and
// builds the agent's image with its RUN steps in the pod's network
// namespace, where the proxy is all there is.
func (c *Conn) buildThroughEgress(ctx context.Context, p *spec.Plan, progress io.Writer) (string, error) {
	if err := c.upEgress(ctx, p); err != nil {
		return "", err
	}
	// The build's RUN steps reach the proxy: its mounts are checked first.
	egress, _ := egressFirst(p)
	if err := c.checkSidecars(ctx, &spec.Plan{Pod: p.Pod, Containers: egress}); err != nil {
		return "", err
	}
	ns, err := c.netNSPath(ctx, p.Pod.Namespaces)
	if err != nil {
		return "", err
	}
	return c.ensureImage(ctx, p.Main().Image, ns, progress)
}

// EnsureImage makes img available on this machine, for an engine that
// runs images built here (a cluster): present already, pulled when
// missing, or built from its Containerfile (an isolated one with no
// network at all). It returns the image's digest (or ID).
func (c *Conn) EnsureImage(ctx context.Context, img spec.Image, progress io.Writer) (string, error) {
	return c.ensureImage(ctx, img, "", progress)
}

// ensureImage makes img available: present already, pulled when missing,
// or built from its Containerfile (an isolated build that may reach hosts
// in the network namespace netns). Progress goes to progress. It returns
// the image's digest (or ID, for an image that has none).
func (c *Conn) ensureImage(ctx context.Context, img spec.Image, netns string, progress io.Writer) (string, error) {
	cctx, cancel := c.call(ctx)
	ok, err := images.Exists(cctx, img.Ref, nil)
	cancel()
	if err != nil {
		return "", c.errorf(err, "look up image %s", img.Ref)
	}
	if !ok {
		if img.Containerfile != "" {
			err = c.build(ctx, img, netns, progress)
		} else {
			err = c.pull(ctx, img.Ref, progress)
		}
		if err != nil {
			return "", err
		}
	}
	return c.imageDigest(ctx, img.Ref)
}

// HasImage says whether this machine's store holds the image ref.
func (c *Conn) HasImage(ctx context.Context, _ *spec.Plan, ref string) (bool, error) {
	return c.imageExists(ctx, ref)
}

// imageExists reports whether the store has an image of that reference.
func (c *Conn) imageExists(ctx context.Context, ref string) (bool, error) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	ok, err := images.Exists(cctx, ref, nil)
	if err != nil {
		return false, c.errorf(err, "look up image %s", ref)
	}
	return ok, nil
}

func (c *Conn) imageDigest(ctx context.Context, ref string) (string, error) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	rep, err := images.GetImage(cctx, ref, nil)
	if err != nil {
		return "", c.errorf(err, "inspect image %s", ref)
	}
	if rep.Digest != "" {
		return rep.Digest.String(), nil
	}
	return "sha256:" + rep.ID, nil
}

func (c *Conn) pull(ctx context.Context, ref string, progress io.Writer) error {
	fmt.Fprintf(progress, "pulling %s\n", ref)
	_, err := images.Pull(c.stream(ctx), ref, new(images.PullOptions).WithProgressWriter(progress).WithPolicy("missing"))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return c.errorf(err, "pull %s", ref)
	}
	return nil
}

func (c *Conn) build(ctx context.Context, img spec.Image, netns string, progress io.Writer) error {
	fmt.Fprintf(progress, "building %s from %s\n", img.Ref, img.Containerfile)
	if img.Isolated {
		fmt.Fprintf(progress, "the build has no network and uses local images only: it is not a Containerfile of your own config\n")
	}
	opts := types.BuildOptions{BuildOptions: define.BuildOptions{
		ContextDirectory: img.Context,
		Output:           img.Ref,
		Out:              progress,
		Err:              progress,
		ReportWriter:     progress,
		Layers:           true,
		PullPolicy:       define.PullIfMissing,
		// Without these the API keeps every step's working container, mounted,
		// in the user's store for good (the bindings send rm=0 when unset).
		RemoveIntermediateCtrs:  true,
		ForceRmIntermediateCtrs: true,
	}}
	if img.Isolated {
		// Without nsoptions the API runs RUN steps in the host's network
		// namespace.
		opts.ConfigureNetwork = define.NetworkDisabled
		opts.NamespaceOptions = define.NamespaceOptions{{Name: "network", Host: false}}
		opts.PullPolicy = define.PullNever
		if t := img.Through; t != nil && netns != "" {
			opts.ConfigureNetwork = define.NetworkEnabled
			opts.NamespaceOptions = define.NamespaceOptions{{Name: "network", Path: netns}}
			// The proxy variables are build arguments every RUN step sees
			// undeclared; they are not kept in the image.
			opts.Args = map[string]string{}
			for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
				opts.Args[k] = t.Proxy
			}
			opts.Args["NO_PROXY"], opts.Args["no_proxy"] = "localhost,127.0.0.1,::1", "localhost,127.0.0.1,::1"
			opts.CommonBuildOpts = &define.CommonBuildOptions{}
			for _, m := range t.CA {
				opts.CommonBuildOpts.Volumes = append(opts.CommonBuildOpts.Volumes, m.Source+":"+m.Target+":ro")
			}
		}
	}
	if _, err := images.Build(c.stream(ctx), []string{img.Containerfile}, opts); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return c.errorf(err, "build %s from %s", img.Ref, img.Containerfile)
	}
	return nil
}

// SaveImage writes an image of the store as a docker-archive (its tag in
// it), for an engine that takes images elsewhere (a cluster).
func (c *Conn) SaveImage(ctx context.Context, ref string, w io.Writer) error {
	format := "docker-archive"
	if err := images.Export(c.stream(ctx), []string{ref}, w, &images.ExportOptions{Format: &format}); err != nil {
		return c.errorf(err, "export image %s", ref)
	}
	return nil
}
