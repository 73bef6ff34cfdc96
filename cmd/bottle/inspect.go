package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"
)

func newInspectCommand(g *globals) *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show all bottle knows of a bottle: its record, services, routes, approvals and pending requests",
		ArgsUsage: "IDENTITY",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON", Destination: &asJSON}},
		Action: func(c *cli.Context) error {
			id, err := identityArg(c, 1)
			if err != nil {
				return err
			}
			return withBottles(c.Context, g, func(env lifecycle.Env) error {
				in, err := lifecycle.Inspect(c.Context, env, id)
				if err != nil {
					return err
				}
				if asJSON {
					return printIndented(g.stdout, in)
				}
				printInspection(g.stdout, in)
				return nil
			})
		},
	}
}

// printIndented prints v as indented JSON, every rune a terminal acts on
// (C1 controls, bidi overrides: encoding/json escapes C0 alone) by its JSON
// escape: the same JSON, which what an agent or a repository wrote cannot
// use to repaint the screen or reorder what the person reads.
func printIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(&termtext.Writer{W: w, Escape: true})
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printInspection shows an inspection as the preflight shows a plan: a
// row a line, what the agent wrote escaped.
func printInspection(w io.Writer, in *lifecycle.Inspection) {
	r := in.Bottle
	fmt.Fprintf(w, "bottle %s  (%s)\n", r.Identity, r.Where)
	row := func(k, format string, args ...any) {
		fmt.Fprintf(w, "  %-10s %s\n", k, printable(fmt.Sprintf(format, args...), false))
	}
	status := r.Status
	if r.Status == lifecycle.StatusKept {
		status += " (" + resumeHint(r.Identity) + ")"
	}
	row("status", "%s", status)
	if in.Kept != "" {
		row("kept", "%s", in.Kept)
	}
	if m := in.Record; m != nil {
		row("agent", "%s", m.Agent)
		if len(m.Args) > 0 {
			row("args", "%s", commandLine(m.Args))
		}
		row("workdir", "%s (%s)", m.Workdir, m.Workspace)
		image := m.Image
		if m.ImageDigest != "" {
			image += " (" + m.ImageDigest + ")"
		}
		row("image", "%s", image)
		row("runtime", "%s", m.Runtime)
		row("started", "%s (%s ago), bottle %s", m.StartedAt.Local().Format("2006-01-02 15:04:05"), age(m.StartedAt), m.Version)
	} else {
		row("state", "gone: bottle rm %s removes its pod", r.Identity)
	}
	if len(in.Services) == 0 {
		row("service", "none: no pod")
	}
	for _, s := range in.Services {
		row("service", "%-9s %s", s.Service, s.State)
	}
	for _, rt := range in.Routes {
		row("egress", "%s", egressLine(rt))
	}
	for _, a := range in.Approved {
		row("approved", "%s", approvedLine(a))
	}
	for _, g := range in.Git {
		row("git", "%s %s, %s", g.Name, g.Upstream, g.Mode)
	}
	for _, a := range in.Approvals {
		line := fmt.Sprintf("%s %s %s %s %s", a.Time.Local().Format("2006-01-02 15:04:05"), a.Decision, a.Request, a.Kind, a.What)
		if a.By != "" {
			line += " by " + a.By
		}
		if a.Reason != "" {
			line += ": " + oneLine(a.Reason, 80)
		}
		row("decision", "%s", line)
	}
	for _, q := range in.Pending {
		row("pending", "%s %s %s: %s", q.ID, q.Kind, requestWhat(q), oneLine(q.Reason, 80))
	}
}

// egressLine shows a route its proxy enforces, as the preflight shows a
// profile's: where, how, and the header a credential goes in (never its value).
func egressLine(r egress.Route) string {
	ports := make([]string, len(r.Ports))
	for i, p := range r.Ports {
		ports[i] = strconv.Itoa(p)
	}
	s := r.Host + ":" + strings.Join(ports, ",")
	if len(r.Methods) > 0 {
		s += " " + strings.Join(r.Methods, ",")
	}
	if len(r.Paths) > 0 {
		s += " " + strings.Join(r.Paths, ",")
	}
	if !r.Intercept {
		s += " (tunnel)"
	}
	if r.Upstream != "" {
		s += " -> " + r.Upstream
	}
	switch {
	case r.Signin != "":
		s += ", sign-in " + r.Signin
	case r.Header != "":
		s += ", injects header " + r.Header
	case r.Query != "":
		s += ", injects query " + r.Query
	}
	return s
}

func newStatsCommand(g *globals) *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:      "stats",
		Usage:     "show the CPU, memory and processes of each service of running bottles (all of them, or those named), and their egress per host from the audit log",
		ArgsUsage: "[IDENTITY...]",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON", Destination: &asJSON}},
		Action: func(c *cli.Context) error {
			return withEnv(c.Context, g, func(env lifecycle.Env) error {
				st, err := lifecycle.Stats(c.Context, env, c.Args().Slice())
				if err != nil {
					return err
				}
				if asJSON {
					return printIndented(g.stdout, st)
				}
				return printStats(g.stdout, st)
			})
		},
	}
}

func printStats(w io.Writer, st []lifecycle.BottleStats) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY\tSERVICE\tCPU %\tMEMORY\tLIMIT\tPIDS")
	var notes []string
	for _, b := range st {
		for _, s := range b.Services {
			if s.Unavailable != "" {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\n", b.Identity, s.Service)
				notes = append(notes, b.Identity+" "+s.Service+": "+s.Unavailable)
				continue
			}
			limit := "-"
			if s.MemoryLimit > 0 {
				limit = units.BytesSize(float64(s.MemoryLimit))
			}
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%s\t%d\n", b.Identity, s.Service, s.CPU, units.BytesSize(float64(s.Memory)), limit, s.PIDs)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(w, "no figures for "+printable(n, false))
	}
	return printTraffic(w, st)
}

// printTraffic is stats' egress table: per bottle and host, as its audit
// log tells it (the host escaped: the agent chose it).
func printTraffic(w io.Writer, st []lifecycle.BottleStats) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	headed := false
	for _, b := range st {
		for _, h := range b.Egress {
			if !headed {
				fmt.Fprintln(w)
				fmt.Fprintln(tw, "IDENTITY\tEGRESS TO\tALLOWED\tREFUSED\tSENT\tRECEIVED")
				headed = true
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", b.Identity, printable(h.Host, false), h.Allowed, h.Refused, units.BytesSize(float64(h.Sent)), units.BytesSize(float64(h.Received)))
		}
	}
	return tw.Flush()
}
