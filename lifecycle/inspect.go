package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// Inspection is all bottle knows of one bottle: the row bottle ls shows,
// its record, why it is kept, its services' states as the engine reports
// them, the routes its egress enforces and the git remotes its gate
// serves (as its last start prepared them), the routes a person approved,
// and every decision on its agent's requests, and those still pending.
type Inspection struct {
	Bottle    Row                  `json:"bottle"`
	Record    *state.Metadata      `json:"record,omitempty"` // nil for a pod whose state is gone
	Kept      string               `json:"kept,omitempty"`   // why it is kept
	Services  []ServiceState       `json:"services"`
	Routes    []egress.Route       `json:"routes"`
	Git       []GitRemote          `json:"git"`
	Approved  []ApprovedRoute      `json:"approved"`
	Approvals []supervise.Approval `json:"approvals"`
	Pending   []*supervise.Request `json:"pending"`
}

// ServiceState is one of a bottle's services and its container's state.
type ServiceState struct {
	Service string `json:"service"`
	State   string `json:"state"`
}

// GitRemote is a remote the bottle's git gate serves.
type GitRemote struct {
	Name     string `json:"name"`
	Upstream string `json:"upstream,omitempty"`
	Mode     string `json:"mode"`
}

// Inspect gathers what bottle knows of the bottle id.
func Inspect(ctx context.Context, env Env, id string) (*Inspection, error) {
	if _, err := Known(ctx, env, id); err != nil {
		return nil, err
	}
	rows, err := List(ctx, env)
	if err != nil {
		return nil, inBottleTerms(id, err)
	}
	i := slices.IndexFunc(rows, func(r Row) bool { return r.Identity == id })
	if i < 0 {
		return nil, fmt.Errorf("bottle %s is gone", id) // since Known found it
	}
	in := &Inspection{Bottle: rows[i], Services: []ServiceState{}, Routes: []egress.Route{}, Git: []GitRemote{},
		Approved: []ApprovedRoute{}, Approvals: []supervise.Approval{}, Pending: []*supervise.Request{}}
	pods, err := env.Engine.List(ctx, sidecars.RootLabel(env.Root.Dir))
	if err != nil {
		return nil, inBottleTerms(id, err)
	}
	for _, p := range pods {
		if p.Identity == id {
			in.Services = servicesOf(p)
		}
	}
	b := rows[i].Bottle()
	if b == nil {
		return in, nil
	}
	m, err := b.Metadata()
	if err != nil {
		return nil, err
	}
	in.Record = &m
	if b.Preserved() {
		in.Kept = b.PreserveReason()
	}
	if err := in.read(b); err != nil {
		return nil, err
	}
	return in, nil
}

// Recorded is what a bottle's folders say of it (an Inspection's routes,
// git remotes, approved routes, decisions and pending requests), with no
// call to its engine: what the dashboard reads for the bottle it shows.
func Recorded(b *state.Bottle) (*Inspection, error) {
	in := &Inspection{Routes: []egress.Route{}, Git: []GitRemote{}, Approved: []ApprovedRoute{}, Approvals: []supervise.Approval{}, Pending: []*supervise.Request{}}
	if err := in.read(b); err != nil {
		return nil, err
	}
	return in, nil
}

// read takes in what the bottle's folders say: the routes and remotes as
// its last start prepared them (what the sidecars read; through
// internal/beneath, a sidecar's folder being one a container writes),
// approved routes, the approvals log, the pending requests.
func (in *Inspection) read(b *state.Bottle) error {
	var pol egress.Policy
	if data, err := b.EgressFolder().ReadFile(path.Join(egress.PolicyDir, egress.RoutesFile)); err == nil {
		if err := json.Unmarshal(data, &pol); err != nil {
			return errors.New("bottle " + b.ID + ": its egress routes: " + err.Error())
		}
		in.Routes = append(in.Routes, pol.Routes...)
	}
	var gate gitgate.Config
	if data, err := b.GitGateFolder().ReadFile(gitgate.ConfigFile); err == nil && json.Unmarshal(data, &gate) == nil {
		for _, r := range gate.Remotes {
			in.Git = append(in.Git, GitRemote{Name: r.Name, Upstream: r.Upstream, Mode: r.Mode})
		}
	}
	approved, err := ApprovedRoutes(b)
	if err != nil {
		return err
	}
	in.Approved = append(in.Approved, approved...)
	data, err := b.Record(state.ApprovalsFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var a supervise.Approval
		if len(line) > 0 && json.Unmarshal(line, &a) == nil {
			in.Approvals = append(in.Approvals, a)
		}
	}
	reqs, _ := (supervise.Store{Dir: b.SuperviseDir()}).List()
	for _, r := range reqs {
		if r.Status == supervise.StatusPending {
			in.Pending = append(in.Pending, r)
		}
	}
	return nil
}

// servicesOf are a pod's services in the order a bottle's are told
// (sidecars.Services), then any other.
func servicesOf(p spec.PodInfo) []ServiceState {
	var out []ServiceState
	for s, st := range p.Containers {
		out = append(out, ServiceState{Service: s, State: st})
	}
	slices.SortFunc(out, func(a, b ServiceState) int {
		if d := serviceOrder(a.Service) - serviceOrder(b.Service); d != 0 {
			return d
		}
		return strings.Compare(a.Service, b.Service)
	})
	return out
}

func serviceOrder(s string) int {
	if i := slices.Index(sidecars.Services, s); i >= 0 {
		return i
	}
	return len(sidecars.Services) // any other after them, in the engine's order
}

// BottleStats is one running bottle's figures, service by service from
// the engine, and its egress host by host from its audit log (Traffic).
type BottleStats struct {
	Identity string               `json:"identity"`
	Agent    string               `json:"agent"`
	Where    string               `json:"where,omitempty"`
	Services []spec.ServiceStats  `json:"services"`
	Egress   []egress.HostTraffic `json:"egress"`
}

// Stats samples the bottles ids names, each of which must be running, or
// every running bottle when ids names none.
func Stats(ctx context.Context, env Env, ids []string) ([]BottleStats, error) {
	rows, err := List(ctx, env)
	if err != nil {
		return nil, err
	}
	var of []Row
	for _, id := range ids {
		i := slices.IndexFunc(rows, func(r Row) bool { return r.Identity == id })
		if i < 0 {
			if _, err := Known(ctx, env, id); err != nil {
				return nil, err
			}
			return nil, notRunning(id)
		}
		if !isRunning(rows[i]) {
			return nil, notRunning(id)
		}
		of = append(of, rows[i])
	}
	if len(ids) == 0 {
		of = slices.DeleteFunc(rows, func(r Row) bool { return !isRunning(r) })
	}
	out := []BottleStats{}
	for _, r := range of {
		st, err := env.Engine.Stats(ctx, r.Identity)
		if errors.As(err, new(*spec.NotFoundError)) {
			if len(ids) == 0 {
				continue // gone since it was listed
			}
			return nil, notRunning(r.Identity)
		}
		if err != nil {
			return nil, inBottleTerms(r.Identity, err)
		}
		slices.SortFunc(st, func(a, b spec.ServiceStats) int { return serviceOrder(a.Service) - serviceOrder(b.Service) })
		for i := range st {
			st[i].Unavailable = inBottleTerms(r.Identity, errors.New(st[i].Unavailable)).Error()
		}
		bs := BottleStats{Identity: r.Identity, Agent: r.Agent, Where: r.Where, Services: st, Egress: []egress.HostTraffic{}}
		if b := r.Bottle(); b != nil {
			if bs.Egress, err = Traffic(b); err != nil {
				return nil, err
			}
		}
		out = append(out, bs)
	}
	return out, nil
}

// isRunning: the bottle's pod runs (its agent may have ended).
func isRunning(r Row) bool { return r.Runs() }
