package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// Row is one bottle as `bottle ls` shows it: its state joined with what
// the engine reports.
type Row struct {
	Identity  string    `json:"identity"`
	Agent     string    `json:"agent"`
	Status    string    `json:"status"`
	StartedAt time.Time `json:"started_at"`
	Workdir   string    `json:"workdir"`
	Pod       string    `json:"pod,omitempty"`
	Preserved bool      `json:"preserved"`
	State     string    `json:"state,omitempty"` // the state folder; empty for a pod whose state is gone
	// Where is the engine the bottle runs on: podman, or kubernetes with
	// the cluster's context and the namespace.
	Where string `json:"where,omitempty"`
	// AgentDone: the pod's agent is not running (it exited, or never started).
	AgentDone bool `json:"-"`
	// Warm: a warm bottle, made ahead for bottle start to claim (status
	// warm once its egress runs): not one of the person's bottles.
	Warm bool `json:"warm,omitempty"`
	// podRuns: the engine says the pod runs, all of it or some (its
	// sidecars, when the agent ended).
	podRuns bool
}

// Runs says the bottle's pod runs (its agent may have ended: an exited
// bottle whose sidecars run): the engine has figures of it.
func (r *Row) Runs() bool {
	return podRuns(r.Status) || r.Status == StatusExited && r.podRuns
}

// podRuns: an engine's status of a pod all or some of which runs.
func podRuns(status string) bool {
	return strings.EqualFold(status, "running") || strings.EqualFold(status, "degraded")
}

// agentEnded: an agent container's state once its process ended.
func agentEnded(state string) bool {
	return state == "exited" || state == "stopped"
}

// Bottle is the row's state folder, or nil for a pod whose state is gone.
func (r *Row) Bottle() *state.Bottle {
	if r.State == "" {
		return nil
	}
	return &state.Bottle{ID: r.Identity, Dir: r.State}
}

// Statuses of a bottle that are bottle's own; any other is its pod's, as
// the engine says (running, exited, ...).
const (
	// StatusKept: kept and not running (stopped, or ended with --keep,
	// with its pod or without): bottle resume carries it on.
	StatusKept     = "kept"
	StatusStarting = "starting" // a bottle command holds it and has not made the pod yet
	StatusStale    = "stale"    // no pod, not kept, not in use: gc removes it
	StatusOrphan   = "orphaned" // a pod whose state is gone: gc removes it
	// StatusEnding: not kept, its session ended and its teardown is under
	// way in a process of its own (or was, and the next bottle command
	// finishes it); a kept one is StatusKept from its session's end.
	StatusEnding = "ending"
	// StatusExited: not kept, its agent ended and no command tears it down
	// (a detached bottle): whether its sidecars still run (Podman's
	// "degraded" pod) or ended too. bottle logs shows what it said; bottle
	// rm or gc removes it.
	StatusExited = "exited"
)

// List joins the state folders with the pods the engine reports, oldest first.
func List(ctx context.Context, env Env) ([]Row, error) {
	pods, err := env.Engine.List(ctx, sidecars.RootLabel(env.Root.Dir))
	if err != nil {
		return nil, err
	}
	byID := map[string]spec.PodInfo{}
	for _, p := range pods {
		byID[p.Identity] = p
	}
	bottles, err := env.Root.List()
	if err != nil {
		return nil, err
	}
	def := env.Engine.Info().Name // where a bottle that records none runs
	var rows []Row
	for _, b := range bottles {
		m, err := b.Metadata()
		if err != nil {
			return nil, err
		}
		r := Row{Identity: b.ID, Agent: m.Agent, StartedAt: m.StartedAt, Workdir: m.Workdir, Preserved: b.Preserved(), State: b.Dir, Where: where(m, def)}
		p, hasPod := byID[b.ID]
		if hasPod {
			r.Status, r.Pod = strings.ToLower(p.Status), p.Name
			r.AgentDone = p.Containers[agent.Service] != "running"
			r.podRuns = podRuns(p.Status)
			delete(byID, b.ID)
		}
		_, r.Warm = readWarm(b)
		switch {
		case r.Warm && hasPod && r.Status == "running" && !b.InUse():
			r.Status = StatusWarm
		case r.Preserved && (!hasPod || r.AgentDone || pendingTeardown(b)):
			// One word whether bottle stop left its pod stopped or a --keep
			// session's end removed it: what the person does next is the same.
			r.Status = StatusKept
		case pendingTeardown(b):
			r.Status = StatusEnding
		case hasPod && agentEnded(p.Containers[agent.Service]):
			r.Status = StatusExited
		case hasPod:
		case b.InUse():
			r.Status = StatusStarting
		default:
			r.Status = StatusStale
		}
		rows = append(rows, r)
	}
	for id, p := range byID {
		rows = append(rows, Row{Identity: id, Agent: p.Agent, Status: StatusOrphan, StartedAt: p.Created, Pod: p.Name})
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].StartedAt.Equal(rows[j].StartedAt) {
			return rows[i].StartedAt.Before(rows[j].StartedAt)
		}
		return rows[i].Identity < rows[j].Identity
	})
	return rows, nil
}

// Known checks that id names a bottle, in state or in the engine, and
// returns its state folder when there is one (nil for a pod whose state is
// gone: still stoppable and removable).
func Known(ctx context.Context, env Env, id string) (*state.Bottle, error) {
	b, err := env.Root.Open(id)
	var nf *state.NotFoundError
	if errors.As(err, &nf) && state.ValidID(id) {
		if ok, perr := env.Engine.Exists(ctx, id); perr == nil && ok {
			return nil, nil
		}
	}
	return b, err
}

// Stop stops a bottle's pod and keeps its state: a stopped bottle is one
// the user wants back. b is nil for a pod whose state is gone.
func Stop(ctx context.Context, env Env, b *state.Bottle, id string) error {
	if err := awaitTeardown(ctx, env, b); err != nil {
		return err
	}
	if b != nil {
		if _, err := env.Root.Open(b.ID); err != nil {
			return err // its session's teardown removed it
		}
		if err := b.Preserve("stopped"); err != nil {
			return err
		}
	}
	if err := env.Engine.Stop(ctx, id); err != nil {
		return err
	}
	return Settle(ctx, b, env.Stderr)
}

// Remove removes a bottle's containers, pod and state. What the agent did
// comes back first (Settle); what it left in the workspace goes with its state.
func Remove(ctx context.Context, env Env, b *state.Bottle, id string) error {
	if err := awaitTeardown(ctx, env, b); err != nil {
		return err
	}
	if err := env.Engine.Remove(ctx, id); err != nil {
		return err
	}
	if b == nil {
		return nil
	}
	if err := settleToRemove(ctx, b, env.Stderr); err != nil {
		return err
	}
	return removeKeepingQuarantine(env.Root, b, env.Stderr)
}

// GC removes what nobody will: teardowns whose process ended before they
// were done (FinishTeardowns), what a crash left of a removal (Sweep), folders of starts that died before writing
// metadata, pods whose state is gone, state whose pod is gone, and bottles
// whose agent ended with no bottle command holding them (a killed launcher,
// a finished detached bottle), unless kept. It says what it removed on
// env.Stdout.
func GC(ctx context.Context, env Env) error {
	finished, err := FinishTeardowns(ctx, env)
	for _, id := range finished {
		fmt.Fprintf(env.Stdout, "finished the teardown of %s (its process ended before it was done)\n", id)
	}
	if err != nil {
		return err
	}
	if err := env.Root.Sweep(); err != nil {
		return err
	}
	rows, err := List(ctx, env)
	if err != nil {
		return err
	}
	unfinished, err := env.Root.Unfinished()
	if err != nil {
		return err
	}
	for _, b := range unfinished {
		if b.InUse() {
			continue // still starting
		}
		if err := b.Remove(); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "removed unfinished state %s\n", b.ID)
	}
	for _, r := range rows {
		switch {
		case r.Warm:
			if err := gcWarm(ctx, env, r); err != nil {
				return err
			}
		case r.Pod != "" && r.State != "" && r.AgentDone && !r.Preserved:
			b := r.Bottle()
			if b.InUse() {
				continue
			}
			if err := Remove(ctx, env, b, r.Identity); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "removed %s (its agent ended and no bottle command holds it)\n", r.Identity)
		case r.Pod != "" && r.State != "" && !r.Preserved && awaitsGoAhead(r.Bottle()):
			// Its start ended (killed) before its agent's go-ahead: it never will run.
			b := r.Bottle()
			if b.InUse() {
				continue
			}
			if err := Remove(ctx, env, b, r.Identity); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "removed %s (its start ended before its agent's go-ahead and no bottle command holds it)\n", r.Identity)
		case r.Status == StatusOrphan:
			if err := env.Engine.Remove(ctx, r.Identity); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "removed pod %s (its state is gone)\n", r.Pod)
		case r.Status == StatusStale:
			// The pod is gone; what it had beside it (the gateway) goes too.
			if err := env.Engine.Remove(ctx, r.Identity); err != nil {
				return err
			}
			b := r.Bottle()
			if err := settleToRemove(ctx, b, env.Stderr); err != nil {
				return err
			}
			if err := removeKeepingQuarantine(env.Root, b, env.Stderr); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "removed state of %s (its pod is gone)\n", r.Identity)
		}
	}
	return nil
}

// where names a bottle's engine as bottle ls shows it: its name, and for
// an engine of places (a cluster's namespaces), which; def is the engine
// of a bottle that records none (made before bottles recorded one).
func where(m state.Metadata, def string) string {
	switch {
	case m.Engine == "":
		return def
	case m.Namespace == "":
		return m.Engine
	case m.Context != "":
		return m.Engine + " " + m.Context + "/" + m.Namespace
	}
	return m.Engine + " " + m.Namespace
}

// Sync brings a running bottle's folder in step with its engine's copy,
// where its engine keeps one (a cluster's volume): the agent's requests to
// the host, the person's answers and the routes to the bottle.
func Sync(ctx context.Context, env Env, b *state.Bottle) error {
	return env.Engine.Sync(ctx, b.ID, sidecars.Exchange(b))
}

// Synced opens the bottle id (every bottle, when "") and brings each in
// step with its engine's copy (Sync), for a command that reads their
// requests; trouble is said on env.Stderr, and the command goes on with
// what the host has.
func Synced(ctx context.Context, env Env, id string) ([]*state.Bottle, error) {
	var bottles []*state.Bottle
	if id != "" {
		b, err := env.Root.Open(id)
		if err != nil {
			return nil, err
		}
		bottles = []*state.Bottle{b}
	} else {
		var err error
		if bottles, err = env.Root.List(); err != nil {
			return nil, err
		}
	}
	for _, b := range bottles {
		if err := Sync(ctx, env, b); err != nil {
			termtext.Fprintf(env.Stderr, "bottle: %s: %v\n", b.ID, err)
		}
	}
	return bottles, nil
}

// awaitsGoAhead says whether b's agent, started ahead of its go-ahead,
// still waits for it (spec.StageWaiting).
func awaitsGoAhead(b *state.Bottle) bool {
	_, err := beneath.At(agent.Stage(b.AgentDir())).Lstat(spec.StageWaiting)
	return err == nil
}
