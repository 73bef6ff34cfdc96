package pod

import (
	"context"
	"errors"
	"fmt"
	"github.com/bottle-sandbox/bottle/spec"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/pods"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
	"github.com/containers/podman/v5/pkg/specgen"
	ocispec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sync/errgroup"
)

// Create makes the pod and every container of the plan, without starting
// them. The calls are not cancelled by ctx once begun, so when Create returns
// the caller knows exactly what exists and teardown can remove all of it.
func (c *Conn) Create(ctx context.Context, p *spec.Plan) error {
	if err := c.CreatePod(ctx, p); err != nil {
		return err
	}
	return c.CreateContainers(ctx, p, p.Containers)
}

// CreatePod makes the plan's pod alone: its containers come with
// CreateContainers, all at once or in stages.
func (c *Conn) CreatePod(ctx context.Context, p *spec.Plan) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cctx, cancel := c.call(context.WithoutCancel(ctx))
	defer cancel()
	ps := specgen.PodSpecGenerator{}
	ps.Name = p.Pod.Name
	ps.Labels = p.Pod.Labels
	ps.NoInfra = true
	if _, err := pods.CreatePodFromSpec(cctx, &types.PodSpec{PodSpecGen: ps}); err != nil {
		return c.errorf(err, "create pod %s", p.Pod.Name)
	}
	return ctx.Err()
}

// CreateContainers makes some of the plan's containers in its pod: the
// namespaces' maker first when it is among them (the others join it), then
// the others side by side.
func (c *Conn) CreateContainers(ctx context.Context, p *spec.Plan, cs []spec.Container) error {
	var first, rest []spec.Container
	for _, ct := range cs {
		if ct.Name == p.Pod.Namespaces {
			first = append(first, ct)
		} else {
			rest = append(rest, ct)
		}
	}
	if !slices.ContainsFunc(p.Containers, func(ct spec.Container) bool { return ct.Name == p.Pod.Namespaces }) {
		return fmt.Errorf("plan of pod %s: no container %q to make its namespaces", p.Pod.Name, p.Pod.Namespaces)
	}
	for _, batch := range [][]spec.Container{first, rest} {
		var g errgroup.Group
		for _, ct := range batch {
			cc, err := c.ForRuntime(ctx, ct.Runtime)
			if err != nil {
				return err
			}
			g.Go(func() error { return cc.createContainer(context.WithoutCancel(ctx), p.Pod, ct) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// NetNSPath is the network namespace of a running container, as a path
// another process (a build's RUN step) can join.
func (c *Conn) NetNSPath(ctx context.Context, name string) (string, error) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	data, err := containers.Inspect(cctx, name, nil)
	if err != nil {
		return "", c.errorf(err, "inspect container %s", name)
	}
	if data.State == nil || data.State.Pid == 0 {
		return "", fmt.Errorf("container %s is not running", name)
	}
	return fmt.Sprintf("/proc/%d/ns/net", data.State.Pid), nil
}

func (c *Conn) createContainer(ctx context.Context, ps spec.PodSpec, ct spec.Container) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	s := specgen.NewSpecGenerator(ct.Image.Ref, false)
	s.Name = ct.Name
	switch {
	case ct.OutsidePod:
		s.NetNS = specgen.Namespace{NSMode: specgen.Host}
	case ct.Name == ps.Namespaces:
		s.Pod = ps.Name
		s.Hostname = ps.Name
		s.NetNS = specgen.Namespace{NSMode: specgen.NoNetwork}
		if ps.KeepID {
			s.UserNS = specgen.Namespace{NSMode: specgen.KeepID}
		}
	default:
		// Joining the user namespace too keeps the network namespace owned by
		// the user namespace the container runs in, so it can mount a sysfs.
		s.Pod = ps.Name
		s.Hostname = ps.Name // as a pod's shared UTS namespace would have it
		s.NetNS = specgen.Namespace{NSMode: specgen.FromContainer, Value: ps.Namespaces}
		if ps.KeepID {
			s.UserNS = specgen.Namespace{NSMode: specgen.FromContainer, Value: ps.Namespaces}
		}
	}
	s.Command = ct.Command
	s.Entrypoint = []string{}
	s.Env = ct.Env
	s.WorkDir = ct.WorkDir
	s.User = ct.User
	s.Labels = ct.Labels
	s.CapDrop = []string{"ALL"}
	s.NoNewPrivileges = ptr(true)
	s.OCIRuntime = ct.Runtime // ignored by the API before containers/podman#28429: see ForRuntime
	if ct.RuntimeSandbox {
		// Podman marks a pod's containers as members of the pod's sandbox
		// (cri-o annotations); runsc would then try to join a sandbox that is
		// not there rather than start its own in the pod's network namespace.
		s.Annotations = map[string]string{"io.kubernetes.cri-o.ContainerType": "sandbox"}
	}
	if ct.Main {
		s.Terminal = ptr(isTerminal(os.Stdin) && isTerminal(os.Stdout))
		s.Stdin = ptr(true)
	}
	for _, m := range ct.Mounts {
		opts := []string{"rbind"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		s.Mounts = append(s.Mounts, ocispec.Mount{Type: "bind", Source: m.Source, Destination: m.Target, Options: opts})
	}
	if r := ct.Resources; r != (spec.Resources{}) {
		s.ResourceLimits = &ocispec.LinuxResources{}
		if r.MemoryBytes > 0 {
			s.ResourceLimits.Memory = &ocispec.LinuxMemory{Limit: ptr(r.MemoryBytes)}
		}
		if r.CPUs > 0 {
			const period = 100000
			s.ResourceLimits.CPU = &ocispec.LinuxCPU{Period: ptr(uint64(period)), Quota: ptr(int64(r.CPUs * period))}
		}
		if r.Pids > 0 {
			s.ResourceLimits.Pids = &ocispec.LinuxPids{Limit: r.Pids}
		}
	}
	if s.UserNS.NSMode == specgen.KeepID {
		// The service's keep-id mapping lookup is not safe against itself:
		// two such creates at once now and then store a container with no
		// mapping, which then cannot start (containers/podman#20107).
		unlock, err := keepIDLock()
		if err != nil {
			return err
		}
		defer unlock()
	}
	if _, err := containers.CreateWithSpec(cctx, s, nil); err != nil {
		return c.errorf(err, "create container %s", ct.Name)
	}
	return nil
}

// keepIDLock takes the invoking user's lock on keep-id creates, shared by
// every bottle command of that user.
func keepIDLock() (func(), error) {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("bottle-keep-id-%d.lock", os.Getuid()))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock keep-id creates: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock keep-id creates: %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// readyTimeout bounds the wait for a sidecar to serve.
const readyTimeout = 20 * time.Second

// StartSidecars starts every container but the main one and waits for each
// to be ready. Containers beside the pod start alongside; those in the pod
// start one after the other in the plan's order (the namespaces' maker
// comes first), each without
// waiting for the one before to be ready: two starts in one pod at once
// failed now and then ("internal libpod error", on 4.3 and 5.x).
func (c *Conn) StartSidecars(ctx context.Context, p *spec.Plan) error {
	var g errgroup.Group
	ready := func(ct spec.Container) {
		for _, file := range ct.Ready {
			g.Go(func() error { return c.waitReady(ctx, ct, file) })
		}
	}
	var inPod []spec.Container
	for _, ct := range p.Containers {
		switch {
		case ct.Main:
		case ct.OutsidePod:
			g.Go(func() error {
				if err := c.StartContainer(ctx, ct.Name); err != nil {
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
			if err := c.StartContainer(ctx, ct.Name); err != nil {
				return err
			}
			ready(ct)
		}
		return nil
	})
	return g.Wait()
}

// waitReady polls for one of a sidecar's ready files, and reports the
// sidecar's own last words if it exits or never gets there.
func (c *Conn) waitReady(ctx context.Context, ct spec.Container, file string) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		if _, err := os.Stat(file); err == nil {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		cctx, cancel := c.call(ctx)
		data, err := containers.Inspect(cctx, ct.Name, nil)
		cancel()
		exited := err == nil && data.State != nil && !data.State.Running
		if exited || time.Now().After(deadline) {
			var out strings.Builder
			c.Logs(ctx, ct.Name, false, &out, &out)
			return fmt.Errorf("sidecar %s did not start: %s", ct.Service, lastLine([]byte(out.String())))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// StartContainer starts one container.
func (c *Conn) StartContainer(ctx context.Context, name string) error {
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

// RemoveBottle removes a bottle's pod (which takes its containers) and, at
// the same time, the containers it has beside the pod, found by the identity
// label; with podName "" only those beside the pod. Removing the pod's
// containers one by one beside Podman's own pod removal measured slower:
// they contend for the same locks.
func (c *Conn) RemoveBottle(ctx context.Context, podName, identity string) error {
	cctx, cancel := c.call(context.WithoutCancel(ctx))
	defer cancel()
	list, err := containers.List(cctx, new(containers.ListOptions).WithAll(true).WithFilters(map[string][]string{"label": {spec.LabelIdentity + "=" + identity}}))
	if err != nil {
		err = c.errorf(err, "list containers of %s", identity)
		if podName != "" {
			err = errors.Join(err, c.RemovePod(ctx, podName))
		}
		return err
	}
	// Kill what runs in the pod all at once first: the pod's removal stops its
	// containers one after the other, each waiting for its own cleanup.
	var kills errgroup.Group
	for _, ct := range list {
		if ct.Pod != "" && podName != "" && !ct.IsInfra && ct.State == "running" {
			kills.Go(func() error {
				containers.Kill(cctx, ct.ID, new(containers.KillOptions).WithSignal("KILL"))
				return nil // whatever failed, the pod's removal below settles it
			})
		}
	}
	kills.Wait()
	var g errgroup.Group
	if podName != "" {
		g.Go(func() error { return c.RemovePod(ctx, podName) })
	}
	for _, ct := range list {
		if ct.Pod != "" {
			continue // the pod's removal takes it, or the pod stays (podName "")
		}
		g.Go(func() error {
			if _, err := containers.Remove(cctx, ct.ID, new(containers.RemoveOptions).WithForce(true).WithTimeout(0)); err != nil && !isNotFound(err) {
				return c.errorf(err, "remove container %s", ct.Names)
			}
			return nil
		})
	}
	return g.Wait()
}

// RemovePod removes a pod and its containers, whatever state they are in. A
// pod that does not exist is not an error. It runs even when ctx is cancelled:
// it is what cleans up after an interrupt.
func (c *Conn) RemovePod(ctx context.Context, name string) error {
	cctx, cancel := c.call(context.WithoutCancel(ctx))
	defer cancel()
	// Timeout 0: kill at once. The agent has no say in how its bottle ends.
	_, err := pods.Remove(cctx, name, new(pods.RemoveOptions).WithForce(true).WithTimeout(0))
	if err != nil && !isNotFound(err) {
		return c.errorf(err, "remove pod %s", name)
	}
	return nil
}

// StopPod stops a pod's containers, leaving it to be resumed or removed.
func (c *Conn) StopPod(ctx context.Context, name string) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	if _, err := pods.Stop(cctx, name, nil); err != nil {
		if isNotFound(err) {
			return &spec.NotFoundError{Name: name}
		}
		return c.errorf(err, "stop pod %s", name)
	}
	return nil
}

// PodExists reports whether a pod of that name exists.
func (c *Conn) PodExists(ctx context.Context, name string) (bool, error) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	ok, err := pods.Exists(cctx, name, nil)
	if err != nil {
		return false, c.errorf(err, "look up pod %s", name)
	}
	return ok, nil
}

func isNotFound(err error) bool {
	var ec interface{ Code() int }
	if errors.As(err, &ec) && ec.Code() == 404 {
		return true
	}
	// Two removals racing (teardown and bottle rm): the loser hears it from
	// libpod's database, with a 500.
	msg := err.Error()
	return strings.Contains(msg, "no such pod") || strings.Contains(msg, "no such container")
}

func ptr[T any](v T) *T { return &v }
