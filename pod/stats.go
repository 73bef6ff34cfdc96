package pod

import (
	"context"
	"time"

	"github.com/bottle-sandbox/bottle/spec"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/pods"
)

// statsTimeout bounds a sample: two reports a second apart.
const statsTimeout = 15 * time.Second

// Stats reports each service of a bottle's pod, and those beside it (the
// egress gateway): for a running one, its CPU
// over a one-second sample (the second report of Podman's stream: the
// first is the average since the container started), memory and
// processes; for another, that it is not running. Where Podman gives no
// figures (rootless on cgroup v1), each service says Podman's reason.
func (c *Conn) Stats(ctx context.Context, identity string) ([]spec.ServiceStats, error) {
	name := spec.PodName(identity)
	cctx, cancel := c.call(ctx)
	rep, err := pods.Inspect(cctx, name, nil)
	cancel()
	if err != nil {
		if isNotFound(err) {
			return nil, &spec.NotFoundError{Name: name}
		}
		return nil, c.errorf(err, "inspect pod %s", name)
	}
	var out []spec.ServiceStats
	byName := map[string]int{}
	var running []string
	for _, ct := range rep.Containers {
		service, ok := spec.ServiceOf(identity, ct.Name)
		if !ok {
			continue
		}
		s := spec.ServiceStats{Service: service}
		if ct.State == "running" {
			running = append(running, ct.Name)
			byName[ct.Name] = len(out)
		} else {
			s.Unavailable = "not running (" + ct.State + ")"
		}
		out = append(out, s)
	}
	beside, err := c.besidePods(ctx, spec.LabelIdentity+"="+identity)
	if err != nil {
		return nil, err
	}
	for _, ct := range beside {
		service, ok := serviceBeside(identity, ct)
		if !ok {
			continue
		}
		s := spec.ServiceStats{Service: service}
		if ct.State == "running" {
			running = append(running, ct.Names[0])
			byName[ct.Names[0]] = len(out)
		} else {
			s.Unavailable = "not running (" + ct.State + ")"
		}
		out = append(out, s)
	}
	if len(running) == 0 {
		return out, nil
	}
	sctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	ch, err := containers.Stats(c.stream(sctx), running, new(containers.StatsOptions).WithStream(true).WithInterval(1))
	for n := 0; err == nil && n < 2; n++ {
		r, ok := <-ch
		if !ok {
			break
		}
		if r.Error != nil {
			err = r.Error
			break
		}
		for _, st := range r.Stats {
			if i, ok := byName[st.Name]; ok {
				out[i].CPU, out[i].Memory, out[i].MemoryLimit, out[i].PIDs = st.CPU, st.MemUsage, st.MemLimit, st.PIDs
			}
		}
	}
	cancel()
	if ch != nil {
		for range ch { // the stream's reader ends with the context
		}
	}
	if err != nil {
		why := c.errorf(err, "stats of pod %s", name).Error()
		for _, i := range byName {
			out[i] = spec.ServiceStats{Service: out[i].Service, Unavailable: why}
		}
	}
	return out, nil
}
