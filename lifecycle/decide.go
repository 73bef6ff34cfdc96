package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/internal/containerfile"
	"github.com/bottle-sandbox/bottle/internal/files"
	"github.com/bottle-sandbox/bottle/internal/netrange"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// Decision is a person's answer to one of an agent's requests.
type Decision struct {
	Identity string
	Request  string // its id, or a unique prefix of one
	Status   string // supervise.StatusApproved or supervise.StatusDenied
	Reason   string
	By       string
	// Upstream sends an approved egress request elsewhere (a mirror).
	Upstream string
	// AllowLocal approves an egress request that reaches this machine or
	// its network (a special-purpose address, a local name).
	AllowLocal bool
}

// Outcome is what a decision did.
type Outcome struct {
	Request string // the whole id
	Message string // a line for the person
	// Restart: an approved image change; the bottle must stop for it
	// (RestartForImage), and a resume builds it.
	Restart bool
}

// LocalNote says, for an egress request that reaches this machine or its
// network, why; "" for any other request.
func LocalNote(r *supervise.Request) string {
	if r.Kind != supervise.KindEgress {
		return ""
	}
	why, _ := netrange.Local(r.Host)
	return why
}

// Decide carries out a decision. An approval acts first (the route is live,
// the Containerfile written) and is recorded after, so an agent told
// "approved" finds it done. A bottle whose engine keeps its folder apart
// is brought in step before (its request, as it has it), once an approved
// route is added (the route, and where its gateway may now connect, before
// the answer), and after (the answer); trouble doing so is said on
// env.Stderr, and the decision goes on with what the host has.
func Decide(ctx context.Context, env Env, d Decision) (Outcome, error) {
	b, err := env.Root.Open(d.Identity)
	if err != nil {
		return Outcome{}, err
	}
	sync := func(x spec.Exchange) {
		if err := env.Engine.Sync(ctx, b.ID, x); err != nil {
			termtext.Fprintf(env.Stderr, "bottle: %s: %v\n", b.ID, err)
		}
	}
	sync(sidecars.Exchange(b))
	out, err := decide(b, d, func() {
		x := sidecars.Exchange(b)
		dials, err := egress.GatewayDials(b.GatewayDir())
		if err == nil {
			x.Dials = dials // else a bottle with no gateway's routes: its policy stays
		}
		sync(x)
	})
	if err != nil {
		return out, err
	}
	sync(sidecars.Exchange(b))
	return out, nil
}

// decide carries out a decision on the host; live runs once an approved
// route is in the bottle's folder, before the answer is recorded.
func decide(b *state.Bottle, d Decision, live func()) (Outcome, error) {
	store := supervise.Store{Dir: b.SuperviseDir(), Log: b.ApprovalsLog()}
	id, err := store.Resolve(d.Request)
	if err != nil {
		return Outcome{}, fmt.Errorf("bottle %s: %w", d.Identity, err)
	}
	r, err := store.Get(id)
	if err != nil {
		return Outcome{}, fmt.Errorf("bottle %s: %w", d.Identity, err)
	}
	if r.Status != supervise.StatusPending {
		return Outcome{}, fmt.Errorf("request %s of %s is %s: nothing to decide", id, d.Identity, r.Status)
	}
	out := Outcome{Request: id, Message: fmt.Sprintf("%s %s of %s", d.Status, id, d.Identity)}
	if d.Status == supervise.StatusApproved {
		switch r.Kind {
		case supervise.KindEgress:
			if why := LocalNote(r); why != "" && !d.AllowLocal && d.Upstream == "" {
				return Outcome{}, fmt.Errorf("request %s of %s asks for %s, which reaches this machine or its network (%s): approve it with --allow-local only if the agent should reach it", id, d.Identity, termtext.Clean(r.Host, false), why)
			}
			approved := ApprovedRoute{Request: id, By: d.By, At: time.Now().UTC(), Host: r.Host, Ports: r.Ports, Upstream: d.Upstream, AllowLocal: d.AllowLocal}
			if err := egress.AddRoute(b.EgressDir(), b.GatewayDir(), approved.Route()); err != nil {
				return Outcome{}, err
			}
			// Recorded once live (a route that failed to go live is not
			// approved), so every resume brings it back.
			if err := recordApproved(b, approved); err != nil {
				return Outcome{}, err
			}
			live()
		case supervise.KindCapability:
			// What the next start would refuse is not approved: it is said now.
			c := CheckCapability(b, r)
			switch {
			case c.Err != nil:
				return Outcome{}, fmt.Errorf("request %s of %s: its Containerfile cannot be read as Podman reads it: %w", id, d.Identity, c.Err)
			case c.Blocked:
				return Outcome{}, fmt.Errorf("request %s of %s: %w", id, d.Identity, &containerfile.RefusedError{Refusals: c.Refusals})
			}
			for _, rf := range c.Refusals {
				out.Message += fmt.Sprintf(" (its FROM %s is neither the profile's image nor in build_from: the next start refuses it unless your config lists it)", termtext.Visible(rf.Image))
			}
			if err := files.WriteAtomic(agent.CapabilityFile(b.AgentDir()), []byte(r.Containerfile), 0o644); err != nil {
				return Outcome{}, err
			}
			if err := b.Preserve("capability " + id + " approved"); err != nil {
				return Outcome{}, err
			}
			out.Restart = true
		}
	}
	if _, err := store.Decide(id, d.Status, d.Reason, d.By); err != nil {
		return Outcome{}, err
	}
	return out, nil
}

// RestartForImage stops a bottle whose image change was approved: after a
// moment, so the agent's pending tool call hears the answer before its
// bottle goes. A resume builds the new image and carries on.
func RestartForImage(ctx context.Context, env Env, id string) (string, error) {
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(1500 * time.Millisecond):
	}
	if err := env.Engine.Remove(ctx, id); err != nil {
		return "", err
	}
	return fmt.Sprintf("bottle %s stopped for its new image; carry on with: bottle resume %s", id, id), nil
}
