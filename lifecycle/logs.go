package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

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
