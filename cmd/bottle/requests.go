package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/bottle-sandbox/bottle/internal/containerfile"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/charmbracelet/x/ansi"
	"github.com/urfave/cli/v2"
)

type requestsOptions struct {
	json bool
	all  bool
}

func newRequestsCommand(g *globals) *cli.Command {
	o := &requestsOptions{}
	return &cli.Command{
		Name:      "requests",
		Usage:     "list what agents have asked for: pending requests, or all with --all",
		ArgsUsage: "[IDENTITY]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON", Destination: &o.json},
			&cli.BoolFlag{Name: "all", Usage: "include decided requests and notifications", Destination: &o.all},
		},
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 1); err != nil {
				return err
			}
			return runRequests(c.Context, g, o, c.Args().First())
		},
	}
}

// bottleRequest is a request with the bottle it came from.
type bottleRequest struct {
	Identity string `json:"identity"`
	*supervise.Request
	// Build: a capability request's Containerfile as the next start reads it.
	Build *requestBuild `json:"build,omitempty"`
}

func runRequests(ctx context.Context, g *globals, o *requestsOptions, id string) error {
	var bottles []*state.Bottle
	err := withBottles(ctx, g, func(env lifecycle.Env) (err error) {
		bottles, err = lifecycle.Synced(ctx, env, id)
		return err
	})
	if err != nil {
		return err
	}
	var out []bottleRequest
	for _, b := range bottles {
		reqs, err := (supervise.Store{Dir: b.SuperviseDir()}).List()
		if err != nil {
			return err
		}
		for _, r := range reqs {
			if o.all || r.Status == supervise.StatusPending {
				br := bottleRequest{Identity: b.ID, Request: r}
				if r.Kind == supervise.KindCapability {
					br.Build = buildOf(lifecycle.CheckCapability(b, r))
				}
				out = append(out, br)
			}
		}
	}
	if o.json {
		return printJSON(g.stdout, out)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY\tREQUEST\tKIND\tWHAT\tSTATUS\tAGE\tREASON")
	for _, r := range out {
		what := requestWhat(r.Request)
		if why := lifecycle.LocalNote(r.Request); why != "" {
			what += " (this machine or its network: " + why + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Identity, printable(r.ID, false), printable(r.Kind, false), what, printable(r.Status, false), age(r.CreatedAt), oneLine(r.Reason+r.Message, 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// A requested Containerfile, as the next start would build it; a
	// changed MCP definition whole, as the dashboard's v shows it: what an
	// approval takes is never only the table's cut line.
	for _, r := range out {
		switch {
		case r.Status != supervise.StatusPending:
		case r.Build != nil:
			fmt.Fprintf(g.stdout, "\n%s of %s: the Containerfile as Podman reads it\n", printable(r.ID, false), r.Identity)
			for _, l := range buildLines(r.Build) {
				fmt.Fprintln(g.stdout, "  "+l)
			}
		case r.Kind == supervise.KindMCPTool:
			fmt.Fprintf(g.stdout, "\n%s of %s: the changed definition\n", printable(r.ID, false), r.Identity)
			for _, l := range strings.Split(visibleDiff(r.Message), "\n") {
				fmt.Fprintln(g.stdout, "  "+l)
			}
		}
	}
	return nil
}

// requestBuild is a capability request's Containerfile as the bottle's
// next start would read it: each instruction by its line, what would not
// show as itself escaped, and what that start would refuse.
type requestBuild struct {
	Steps      []string `json:"steps"`
	Refused    []string `json:"refused,omitempty"`
	Approvable bool     `json:"approvable"`
}

func buildOf(c lifecycle.BuildCheck) *requestBuild {
	rb := &requestBuild{Steps: []string{}, Approvable: !c.Blocked}
	if c.Err != nil {
		rb.Refused = []string{"it cannot be read as Podman reads it: " + termtext.Visible(c.Err.Error())}
		return rb
	}
	for _, in := range c.File.Instructions {
		rb.Steps = append(rb.Steps, fmt.Sprintf("%4d: %s", in.Line, containerfile.Show(in)))
	}
	for _, r := range c.Refusals {
		rb.Refused = append(rb.Refused, r.String())
	}
	return rb
}

// buildLines are a requestBuild's lines, for a terminal.
func buildLines(rb *requestBuild) []string {
	out := slices.Clone(rb.Steps)
	for _, r := range rb.Refused {
		out = append(out, "refused: "+r)
	}
	return out
}

func requestWhat(r *supervise.Request) string {
	switch r.Kind {
	case supervise.KindEgress:
		ports := make([]string, len(r.Ports))
		for i, p := range r.Ports {
			ports[i] = fmt.Sprint(p)
		}
		return printable(r.Host, false) + ":" + strings.Join(ports, ",")
	case supervise.KindCapability:
		return fmt.Sprintf("new Containerfile (%d lines)", strings.Count(r.Containerfile, "\n")+1)
	case supervise.KindMCPTool:
		return "changed MCP definition on " + printable(r.Host, false)
	default:
		return "message"
	}
}

// printable makes text that came from inside a bottle safe to show on the
// person's terminal (internal/termtext): newlines stay when keepLines.
func printable(s string, keepLines bool) string { return termtext.Clean(s, keepLines) }

func oneLine(s string, n int) string {
	return ansi.Truncate(strings.Join(strings.Fields(printable(s, false)), " "), n, "...")
}

type decideOptions struct {
	reason   string
	upstream string
	// allowLocal approves an egress request that reaches this machine or
	// its network (loopback, private, link-local, ... or a local name).
	allowLocal bool
}

func newApproveCommand(g *globals) *cli.Command {
	o := &decideOptions{}
	return &cli.Command{
		Name:      "approve",
		Usage:     "approve an agent's request: a new egress route takes effect at once; an image change restarts the bottle",
		ArgsUsage: "IDENTITY REQUEST",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "reason", Usage: "a note for the log and the agent", Destination: &o.reason},
			&cli.StringFlag{Name: "upstream", Usage: "for an egress request: send it to `URL` instead (a mirror)", Destination: &o.upstream},
			&cli.BoolFlag{Name: "allow-local", Usage: "approve an egress request that reaches this machine or its network", Destination: &o.allowLocal},
		},
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 2); err != nil {
				return err
			}
			if c.NArg() != 2 {
				return usageError(c, "name the bottle and the request (see bottle requests)")
			}
			return runDecide(c.Context, g, c.Args().Get(0), c.Args().Get(1), supervise.StatusApproved, o)
		},
	}
}

func newDenyCommand(g *globals) *cli.Command {
	o := &decideOptions{}
	return &cli.Command{
		Name:      "deny",
		Usage:     "deny an agent's request; the reason reaches the agent",
		ArgsUsage: "IDENTITY REQUEST",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "reason", Usage: "why, for the agent and the log", Destination: &o.reason},
		},
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 2); err != nil {
				return err
			}
			if c.NArg() != 2 {
				return usageError(c, "name the bottle and the request (see bottle requests)")
			}
			return runDecide(c.Context, g, c.Args().Get(0), c.Args().Get(1), supervise.StatusDenied, o)
		},
	}
}

// runDecide carries out a decision and reports it; for an approved image
// change it stops the bottle (connecting to the engine only then).
func runDecide(ctx context.Context, g *globals, id, reqID, status string, o *decideOptions) error {
	return withBottles(ctx, g, func(env lifecycle.Env) error {
		out, err := lifecycle.Decide(ctx, env, lifecycle.Decision{Identity: id, Request: reqID, Status: status, Reason: o.reason,
			By: whoami(), Upstream: o.upstream, AllowLocal: o.allowLocal})
		if err != nil {
			return err
		}
		fmt.Fprintln(g.stdout, out.Message)
		if !out.Restart {
			return nil
		}
		msg, err := lifecycle.RestartForImage(ctx, env, id)
		if err == nil {
			fmt.Fprintln(g.stdout, msg)
		}
		return err
	})
}

func whoami() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}
