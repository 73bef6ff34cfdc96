package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bottle-sandbox/bottle/pod"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/agent"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/urfave/cli/v2"
)

type lsOptions struct{ json bool }

func newLsCommand(g *globals) *cli.Command {
	o := &lsOptions{}
	return &cli.Command{
		Name:  "ls",
		Usage: "list bottles: running ones and kept ones",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON", Destination: &o.json},
		},
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 0); err != nil {
				return err
			}
			return runLs(c.Context, g, o)
		},
	}
}

// bottleRow is one line of `bottle ls`.
type bottleRow struct {
	Identity  string    `json:"identity"`
	Agent     string    `json:"agent"`
	Status    string    `json:"status"`
	StartedAt time.Time `json:"started_at"`
	Workdir   string    `json:"workdir"`
	Pod       string    `json:"pod,omitempty"`
	Preserved bool      `json:"preserved"`
	State     string    `json:"state,omitempty"` // the state folder; empty for a pod whose state is gone
	// agentDone: the pod's agent is not running (it exited, or never started).
	agentDone bool
}

// Statuses of a bottle with no pod, or a pod with no state.
const (
	statusPreserved = "preserved" // kept: resume it
	statusStarting  = "starting"  // a bottle command holds it and has not made the pod yet
	statusStale     = "stale"     // no pod, not kept, not in use: gc removes it
	statusOrphan    = "orphaned"  // a pod whose state is gone: gc removes it
)

// listBottles joins the state folders with the pods Podman reports.
func listBottles(ctx context.Context, conn *pod.Conn, root state.Root) ([]bottleRow, error) {
	pods, err := conn.List(ctx, sidecars.RootLabel(root.Dir))
	if err != nil {
		return nil, err
	}
	byID := map[string]pod.PodInfo{}
	for _, p := range pods {
		byID[p.Identity] = p
	}
	bottles, err := root.List()
	if err != nil {
		return nil, err
	}
	var rows []bottleRow
	for _, b := range bottles {
		m, err := b.Metadata()
		if err != nil {
			return nil, err
		}
		r := bottleRow{Identity: b.ID, Agent: m.Agent, StartedAt: m.StartedAt, Workdir: m.Workdir, Preserved: b.Preserved(), State: b.Dir}
		if p, ok := byID[b.ID]; ok {
			r.Status, r.Pod = strings.ToLower(p.Status), p.Name
			r.agentDone = p.Containers[sidecars.ContainerName(b.ID, agent.Service)] != "running"
			delete(byID, b.ID)
		} else if b.InUse() {
			r.Status = statusStarting
		} else if r.Preserved {
			r.Status = statusPreserved
		} else {
			r.Status = statusStale
		}
		rows = append(rows, r)
	}
	for id, p := range byID {
		rows = append(rows, bottleRow{Identity: id, Agent: p.Agent, Status: statusOrphan, StartedAt: p.Created, Pod: p.Name})
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].StartedAt.Equal(rows[j].StartedAt) {
			return rows[i].StartedAt.Before(rows[j].StartedAt)
		}
		return rows[i].Identity < rows[j].Identity
	})
	return rows, nil
}

func runLs(ctx context.Context, g *globals, o *lsOptions) error {
	var rows []bottleRow
	err := withConn(ctx, func(conn *pod.Conn, root state.Root) (err error) {
		rows, err = listBottles(ctx, conn, root)
		return err
	})
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(g.stdout, rows)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY\tAGENT\tSTATUS\tAGE\tWORKDIR")
	for _, r := range rows {
		status := r.Status
		if r.Status == statusPreserved {
			status += " (bottle resume " + r.Identity + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Identity, r.Agent, status, age(r.StartedAt), r.Workdir)
	}
	return tw.Flush()
}

// printJSON writes a list as indented JSON; an empty list is [], not null.
func printJSON[T any](w io.Writer, list []T) error {
	if list == nil {
		list = []T{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(list)
}

func age(t time.Time) string {
	d := time.Since(t)
	switch {
	case t.IsZero():
		return "-"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
