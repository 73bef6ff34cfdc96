package pod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bottle-sandbox/bottle/spec"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/pods"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
	"github.com/containers/podman/v5/pkg/specgen"
	ocispec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sync/errgroup"
)

// Create makes the pod and every container of the plan, without starting
// them; when the pod is there already, an isolated build having made it
// with its egress (Images), the containers that build did not make. The
// calls are not cancelled by ctx once begun, so when Create returns the
// caller knows exactly what exists and teardown can remove all of it.
func (c *Conn) Create(ctx context.Context, p *spec.Plan) error {
	cs := p.Containers
	t0 := time.Now()
	made := false // the pod is there already, and maybe the agent made ahead (a warm bottle's)
	if err := c.createPod(ctx, p); isConflict(err) {
		_, cs = egressFirst(p)
		made = true
	} else if err != nil {
		return err
	}
	slog.Debug("pod created", "took", time.Since(t0).Round(time.Millisecond))
	err := c.createContainers(ctx, p, cs, made)
	slog.Debug("containers created", "took", time.Since(t0).Round(time.Millisecond))
	return err
}

// egressFirst splits the plan's containers into its egress (those beside
// the pod, and the one that makes its namespaces: the gateway and the
// proxy) and the rest.
func egressFirst(p *spec.Plan) (egress, rest []spec.Container) {
	for _, ct := range p.Containers {
		if ct.OutsidePod || ct.Name == p.Pod.Namespaces {
			egress = append(egress, ct)
		} else {
			rest = append(rest, ct)
		}
	}
	return egress, rest
}

// createPod makes the plan's pod alone: its containers come with
// createContainers, all at once or in stages.
func (c *Conn) createPod(ctx context.Context, p *spec.Plan) error {
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

// createContainers makes some of the plan's containers in its pod: the
// namespaces' maker first when it is among them (the others join it), then
// the others side by side.
// With made, a main container made ahead is taken as it is.
func (c *Conn) createContainers(ctx context.Context, p *spec.Plan, cs []spec.Container, made bool) error {
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
			g.Go(func() error {
				if made && c.ahead(ct) {
					if ok, err := c.exists(ctx, ct.Name); err != nil || ok {
						return err
					}
				}
				return cc.createContainer(context.WithoutCancel(ctx), p.Pod, ct)
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// netNSPath is the network namespace of a running container, as a path
// another process (a build's RUN step) can join.
func (c *Conn) netNSPath(ctx context.Context, name string) (string, error) {
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
		s.Terminal = ptr(ct.TTY)
		s.Stdin = ptr(true)
		// The agent's command as PID 1 would ignore the SIGTERM a stop sends
		// (the kernel drops signals PID 1 has no handler for), and be killed
		// only when the grace period ends. The service's init (catatonit,
		// mounted read-only at /run/podman-init: nothing else of the host)
		// runs as PID 1 instead and hands the signal on.
		s.Init = ptr(true)
	}
	for _, m := range ct.Mounts {
		s.Mounts = append(s.Mounts, bindMount(m))
	}
	if ct.Main {
		s.Command = c.command(ct)
	}
	if c.waits(ct) {
		if err := specAhead(s, ct, c.exe, c.ahead(ct)); err != nil {
			return err
		}
	}
	if c.inputs(ct) {
		if err := makeInput(ct); err != nil {
			return err
		}
		for _, m := range c.inputMounts(ct) {
			s.Mounts = append(s.Mounts, bindMount(m))
		}
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
func keepIDLock() (func(), error) { return hostLock("keep-id") }

// hostLock takes one of the invoking user's locks named what, shared by
// every bottle command of that user on this machine, waiting for it.
func hostLock(what string) (func(), error) {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("bottle-%s-%d.lock", what, os.Getuid()))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", what, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %s: %w", what, path, err)
	}
	return func() { f.Close() }, nil
}

// Remove removes all of a bottle: its pod, and what it has beside it.
func (c *Conn) Remove(ctx context.Context, identity string) error {
	return c.removeBottle(ctx, spec.PodName(identity), identity)
}

// Stop stops a bottle's pod and removes what it has beside it (the
// gateway): its folders are the host's own, so what it did is there.
func (c *Conn) Stop(ctx context.Context, identity string) error {
	err := c.stopPod(ctx, spec.PodName(identity))
	if err != nil && !errors.As(err, new(*spec.NotFoundError)) {
		return err
	}
	return c.removeBottle(ctx, "", identity)
}

// removeBottle removes a bottle's pod (which takes its containers) and, at
// the same time, the containers it has beside the pod, found by the identity
// label; with podName "" only those beside the pod. Removing the pod's
// containers one by one beside Podman's own pod removal measured slower:
// they contend for the same locks.
func (c *Conn) removeBottle(ctx context.Context, podName, identity string) error {
	cctx, cancel := c.call(context.WithoutCancel(ctx))
	defer cancel()
	list, err := containers.List(cctx, new(containers.ListOptions).WithAll(true).WithFilters(map[string][]string{"label": {spec.LabelIdentity + "=" + identity}}))
	if err != nil {
		err = c.errorf(err, "list containers of %s", identity)
		if podName != "" {
			err = errors.Join(err, c.removePod(ctx, podName))
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
		g.Go(func() error { return c.removePod(ctx, podName) })
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

// removePod removes a pod and its containers, whatever state they are in. A
// pod that does not exist is not an error. It runs even when ctx is cancelled:
// it is what cleans up after an interrupt.
func (c *Conn) removePod(ctx context.Context, name string) error {
	cctx, cancel := c.call(context.WithoutCancel(ctx))
	defer cancel()
	// Timeout 0: kill at once. The agent has no say in how its bottle ends.
	_, err := pods.Remove(cctx, name, new(pods.RemoveOptions).WithForce(true).WithTimeout(0))
	if err != nil && !isNotFound(err) {
		return c.errorf(err, "remove pod %s", name)
	}
	return nil
}

// stopPod stops a pod's containers, leaving it to be resumed or removed.
func (c *Conn) stopPod(ctx context.Context, name string) error {
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

// Exists reports whether the bottle's pod exists.
func (c *Conn) Exists(ctx context.Context, identity string) (bool, error) {
	name := spec.PodName(identity)
	cctx, cancel := c.call(ctx)
	defer cancel()
	ok, err := pods.Exists(cctx, name, nil)
	if err != nil {
		return false, c.errorf(err, "look up pod %s", name)
	}
	return ok, nil
}

// isConflict says the thing to make exists already.
func isConflict(err error) bool {
	var ec interface{ Code() int }
	return err != nil && (errors.As(err, &ec) && ec.Code() == 409 || strings.Contains(err.Error(), "already exists"))
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
