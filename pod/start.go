package pod

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/spec"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"golang.org/x/sync/errgroup"
)

// readyTimeout bounds the wait for a running sidecar to serve: past what
// load makes of a start (twenty bottles started at once on two cores), as
// one that exits is told at once.
const readyTimeout = 90 * time.Second

// startSidecars starts every container but the main one and waits for each
// to be ready (one running already, started for a build, is ready). Containers beside the pod start alongside; those in the pod
// start one after the other in the plan's order (the namespaces' maker
// comes first), each without
// waiting for the one before to be ready: two starts in one pod at once
// failed now and then ("internal libpod error", on 4.3 and 5.x).
// An agent's container whose process waits for its go-ahead (waits)
// starts last in the pod.
func (c *Conn) startSidecars(ctx context.Context, p *spec.Plan) error {
	var g errgroup.Group
	ready := func(ct spec.Container) {
		for _, file := range ct.Ready {
			g.Go(func() error { return c.waitReady(ctx, ct, file) })
		}
	}
	var inPod []spec.Container
	for _, ct := range p.Containers {
		switch {
		case c.waits(ct):
			inPod = append(inPod, ct)
		case ct.Main:
		case ct.OutsidePod:
			g.Go(func() error {
				if err := c.startSidecar(ctx, ct); err != nil {
					return err
				}
				ready(ct)
				return nil
			})
		default:
			inPod = append(inPod, ct)
		}
	}
	g.Go(func() error {
		for _, ct := range inPod {
			if ct.Main {
				if err := c.ensureRunning(ctx, ct); err != nil {
					return err
				}
				continue
			}
			if err := c.startSidecar(ctx, ct); err != nil {
				return err
			}
			ready(ct)
		}
		return nil
	})
	return g.Wait()
}

// waitReady polls for one of a sidecar's ready files, and reports the
// sidecar's own last words if it exits or never gets there. The file is
// looked for often (a stat); the engine is asked whether the sidecar
// still runs only now and then: twenty bottles starting at once, each
// asking every few milliseconds for each sidecar, kept the service too
// busy to start them.
func (c *Conn) waitReady(ctx context.Context, ct spec.Container, file string) error {
	deadline := time.Now().Add(readyTimeout)
	inspect := time.Now().Add(inspectEvery)
	for {
		if _, err := os.Stat(file); err == nil {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		if now.After(inspect) || now.After(deadline) {
			cctx, cancel := c.call(ctx)
			data, err := containers.Inspect(cctx, ct.Name, nil)
			cancel()
			exited := err == nil && data.State != nil && !data.State.Running
			if exited || time.Now().After(deadline) {
				var out strings.Builder
				c.logs(ctx, ct.Name, false, &out, &out)
				if !exited {
					return fmt.Errorf("sidecar %s runs but is not ready after %s: %s", ct.Service, readyTimeout, lastLine([]byte(out.String())))
				}
				return fmt.Errorf("sidecar %s did not start: %s", ct.Service, lastLine([]byte(out.String())))
			}
			inspect = time.Now().Add(inspectEvery)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inspectEvery is how often waitReady asks whether a sidecar still runs.
const inspectEvery = 250 * time.Millisecond

// startContainer starts one container (one that runs already is left so).
func (c *Conn) startContainer(ctx context.Context, name string) error {
	cctx, cancel := c.call(context.WithoutCancel(ctx))
	defer cancel()
	if err := containers.Start(cctx, name, nil); err != nil {
		// The service starts a container's dependencies with it, so one
		// can be running already when its own start comes (seen once on
		// 4.3: "must be in Created or Stopped state"): running is what was
		// asked for.
		if data, ierr := containers.Inspect(cctx, name, nil); ierr == nil && data.State != nil && data.State.Running {
			return nil
		}
		return c.errorf(err, "start container %s", name)
	}
	return nil
}
