package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/spec"
)

// The preflight as JSON (bottle start --dry-run --json): what the text
// preview shows, row by row, in fields a script reads.
type (
	preflightJSON struct {
		ID        string                    `json:"id"`
		Engine    engineJSON                `json:"engine"`
		Agent     string                    `json:"agent"`
		Command   []string                  `json:"command"`
		Image     imageJSON                 `json:"image"`
		Runtime   string                    `json:"runtime"`
		Workspace workspaceJSON             `json:"workspace"`
		Mounts    []spec.Mount              `json:"mounts"`
		Signin    *signinJSON               `json:"signin,omitempty"`
		Egress    []routeJSON               `json:"egress"`
		Approved  []lifecycle.ApprovedRoute `json:"approved"`
		Build     []routeJSON               `json:"build_egress,omitempty"`
		Git       []gitJSON                 `json:"git"`
		User      string                    `json:"user"`
		Resources resourcesJSON             `json:"resources"`
		// Ready: a start would go ahead; else Missing says at what it stops.
		Ready   bool                `json:"ready"`
		Missing []lifecycle.Missing `json:"missing"`
	}
	engineJSON struct {
		Name      string `json:"name"`
		Version   string `json:"version,omitempty"`
		Rootless  bool   `json:"rootless"`
		Context   string `json:"context,omitempty"`
		Namespace string `json:"namespace,omitempty"`
	}
	imageJSON struct {
		Ref           string               `json:"ref"`
		Containerfile string               `json:"containerfile,omitempty"`
		Isolated      bool                 `json:"isolated,omitempty"`
		Work          *lifecycle.ImageWork `json:"work,omitempty"`
	}
	workspaceJSON struct {
		Mode   string `json:"mode"`
		Source string `json:"source"`
		Target string `json:"target"`
	}
	signinJSON struct {
		Agent  string `json:"agent"`
		Use    string `json:"use"`
		Source string `json:"source"`
	}
	routeJSON struct {
		Host     string   `json:"host"`
		Ports    []int    `json:"ports"`
		Methods  []string `json:"methods,omitempty"`
		Paths    []string `json:"paths,omitempty"`
		Tunnel   bool     `json:"tunnel,omitempty"`
		Upstream string   `json:"upstream,omitempty"`
		// Credential is where the injected credential comes from, never its value.
		Credential string `json:"credential,omitempty"`
		Line       string `json:"line"` // as the text preview shows it
	}
	gitJSON struct {
		Remote   string   `json:"remote"`
		Upstream string   `json:"upstream"`
		Mode     string   `json:"mode"`
		Push     []string `json:"push,omitempty"` // empty: any branch not protected
		Protect  []string `json:"protected,omitempty"`
		Tags     bool     `json:"tags"`
	}
	resourcesJSON struct {
		Memory string  `json:"memory,omitempty"`
		CPUs   float64 `json:"cpus,omitempty"`
		Pids   int64   `json:"pids,omitempty"`
	}
)

// shownMounts are ms with their sources as the preview names them.
func shownMounts(pf lifecycle.Preflight, ms []spec.Mount) []spec.Mount {
	out := slices.Clone(ms)
	for i := range out {
		out[i].Source = pf.Shown(out[i].Source)
	}
	return out
}

func printPreflightJSON(w io.Writer, pf lifecycle.Preflight) error {
	a, m := pf.Agent, pf.Plan.Main()
	out := preflightJSON{
		ID: pf.ID, Engine: engineJSON{Name: pf.Engine.Name, Version: pf.Engine.Version, Rootless: pf.Engine.Rootless, Context: pf.Engine.Context, Namespace: pf.Engine.Namespace}, Agent: a.Name, Command: m.Command, Runtime: a.Runtime,
		Image:     imageJSON{Ref: m.Image.Ref, Containerfile: pf.BuiltFrom(), Isolated: m.Image.Isolated, Work: pf.Image},
		Workspace: workspaceJSON{Mode: a.Workspace, Source: pf.Workdir, Target: m.Mounts[0].Target},
		Mounts:    shownMounts(pf, m.Mounts[1:]), Approved: pf.Approved, User: m.User,
		Resources: resourcesJSON{Memory: a.Memory, CPUs: a.CPUs, Pids: int64(a.Pids)},
		Ready:     len(pf.Missing) == 0, Missing: pf.Missing,
		Egress: routesJSON(a.Egress), Build: routesJSON(a.BuildEgress), Git: []gitJSON{},
	}
	if slices.ContainsFunc(pf.Missing, func(m lifecycle.Missing) bool { return m.Row == "user" }) {
		out.User = "" // refused: see missing
	}
	if si := pf.Signin; si != nil {
		out.Signin = &signinJSON{Agent: a.Signin.Agent, Use: si.Use, Source: si.Source}
	}
	if gate := pf.Gate; gate != nil {
		for _, r := range gate.Config.Remotes {
			out.Git = append(out.Git, gitJSON{Remote: r.Name, Upstream: r.Upstream, Mode: r.Mode, Push: r.Rules.Branches, Protect: r.Rules.Protected, Tags: r.Rules.Tags})
		}
	}
	if out.Approved == nil {
		out.Approved = []lifecycle.ApprovedRoute{}
	}
	if out.Missing == nil {
		out.Missing = []lifecycle.Missing{}
	}
	return printIndented(w, out)
}

func routesJSON(routes []config.Route) []routeJSON {
	out := []routeJSON{}
	for _, r := range routes {
		j := routeJSON{Host: r.Host, Ports: r.PortList(), Methods: r.Methods, Paths: r.Paths, Tunnel: !r.Intercepts(), Upstream: r.Upstream, Line: routeLine(r)}
		if c := r.Credential; c != nil {
			j.Credential = c.Source()
		}
		out = append(out, j)
	}
	return out
}

// printBottleJSON writes one bottle as bottle ls --json shows it.
func printBottleJSON(ctx context.Context, env lifecycle.Env, w io.Writer, id string) error {
	rows, err := lifecycle.List(ctx, env)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(rows, func(r lifecycle.Row) bool { return r.Identity == id })
	if i < 0 {
		return fmt.Errorf("bottle %s started, and is not listed", id)
	}
	return printIndented(w, rows[i])
}
