package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/spec"
)

// LogsOf says whose logs, and where they go.
type LogsOf struct {
	ID      string
	Service string // "" for the agent
	Follow  bool
	// Audit takes the audit logs (JSON lines) of egress and the git gate;
	// Stdout and Stderr a container's output.
	Audit          io.Writer
	Stdout, Stderr io.Writer
}

// Logs prints a bottle's logs: for egress and the git gate, their audit
// logs kept in the bottle's state (a line per decision, per push); for any
// other service, its container's output.
func Logs(ctx context.Context, env Env, o LogsOf) error {
	b, err := Known(ctx, env, o.ID)
	if err != nil {
		return err
	}
	service := o.Service
	if service == "" {
		service = agent.Service
	}
	if !slices.Contains(sidecars.Services, service) {
		return fmt.Errorf("bottle %s has no service %q (its services: %s)", o.ID, service, strings.Join(sidecars.Services, ", "))
	}
	if o.Follow && b != nil && (service == egress.Service || service == gitgate.Service) {
		// A log no one writes any more is not followed: as a container's
		// logs -f, the following ends with the service.
		var stop func()
		ctx, stop = whileRunning(ctx, env, o.ID, sidecars.ContainerOf(service))
		defer stop()
	}
	switch {
	case service == egress.Service && b != nil:
		return followFile(ctx, b.EgressFolder(), egress.AuditFile, o.Follow, o.Audit)
	case service == gitgate.Service && b != nil:
		if !gitgate.Configured(b.GitGateFolder()) {
			return fmt.Errorf("bottle %s has no git gate (its workspace had no remote)", o.ID)
		}
		if _, err := b.GitGateFolder().Lstat(gitgate.AuditFile); errors.Is(err, os.ErrNotExist) && !o.Follow {
			return nil // no push yet
		}
		return followFile(ctx, b.GitGateFolder(), gitgate.AuditFile, o.Follow, o.Audit)
	}
	err = env.Engine.Logs(ctx, o.ID, sidecars.ContainerOf(service), o.Follow, o.Stdout, o.Stderr)
	if errors.As(err, new(*spec.NotFoundError)) {
		return fmt.Errorf("bottle %s has no running %s (its pod is gone; bottle resume %s brings it back)", o.ID, service, o.ID)
	}
	return inBottleTerms(o.ID, err)
}

// whileRunning is ctx, ended too once the bottle's container of service is
// not running (looked at every second; an engine that cannot say ends it).
func whileRunning(ctx context.Context, env Env, id, service string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		for {
			if !serviceRunning(ctx, env, id, service) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return ctx, cancel
}

func serviceRunning(ctx context.Context, env Env, id, service string) bool {
	pods, err := env.Engine.List(ctx, sidecars.RootLabel(env.Root.Dir))
	if err != nil {
		return false
	}
	for _, p := range pods {
		if p.Identity == id {
			return p.Containers[service] == "running"
		}
	}
	return false
}
