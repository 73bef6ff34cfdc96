package main

import (
	"context"
	"fmt"
	"github.com/bottle-sandbox/bottle/internal/files"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bottle-sandbox/bottle/internal/netrange"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/pod"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/agent"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/state"
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
			return runRequests(g, o, c.Args().First())
		},
	}
}

// bottleRequest is a request with the bottle it came from.
type bottleRequest struct {
	Identity string `json:"identity"`
	*supervise.Request
}

func runRequests(g *globals, o *requestsOptions, id string) error {
	root, err := state.DefaultRoot()
	if err != nil {
		return err
	}
	var bottles []*state.Bottle
	if id != "" {
		b, err := root.Open(id)
		if err != nil {
			return err
		}
		bottles = []*state.Bottle{b}
	} else if bottles, err = root.List(); err != nil {
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
				out = append(out, bottleRequest{Identity: b.ID, Request: r})
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
		if why := localNote(r.Request); why != "" {
			what += " (this machine or its network: " + why + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Identity, printable(r.ID, false), printable(r.Kind, false), what, printable(r.Status, false), age(r.CreatedAt), oneLine(r.Reason+r.Message, 60))
	}
	return tw.Flush()
}

// localNote says, for an egress request that reaches this machine or its
// network, why; "" for any other request.
func localNote(r *supervise.Request) string {
	if r.Kind != supervise.KindEgress {
		return ""
	}
	why, _ := netrange.Local(r.Host)
	return why
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
	default:
		return "message"
	}
}

// printable makes text that came from inside a bottle safe to show on the
// person's terminal (internal/termtext): newlines stay when keepLines.
func printable(s string, keepLines bool) string { return termtext.Clean(s, keepLines) }

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(printable(s, false)), " ")
	if len(s) > n {
		s = s[:n-3] + "..."
	}
	return s
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

// runDecide carries out a decision and reports it.
func runDecide(ctx context.Context, g *globals, id, reqID, status string, o *decideOptions) error {
	msg, err := decide(ctx, id, reqID, status, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.stdout, msg)
	return nil
}

// decide carries out a decision. An approval acts first (the route is live,
// the Containerfile written) and is recorded after, so an agent told
// "approved" finds it done. It returns what happened, in a line.
func decide(ctx context.Context, id, reqID, status string, o *decideOptions) (string, error) {
	root, err := state.DefaultRoot()
	if err != nil {
		return "", err
	}
	b, err := root.Open(id)
	if err != nil {
		return "", err
	}
	store := supervise.Store{Dir: b.SuperviseDir(), Log: b.ApprovalsLog()}
	if reqID, err = store.Resolve(reqID); err != nil {
		return "", fmt.Errorf("bottle %s: %w", id, err)
	}
	r, err := store.Get(reqID)
	if err != nil {
		return "", fmt.Errorf("bottle %s: %w", id, err)
	}
	if r.Status != supervise.StatusPending {
		return "", fmt.Errorf("request %s of %s is %s: nothing to decide", reqID, id, r.Status)
	}
	restart := false
	if status == supervise.StatusApproved {
		switch r.Kind {
		case supervise.KindEgress:
			if why, local := netrange.Local(r.Host); local && !o.allowLocal && o.upstream == "" {
				return "", fmt.Errorf("request %s of %s asks for %s, which reaches this machine or its network (%s): approve it with --allow-local only if the agent should reach it", reqID, id, printable(r.Host, false), why)
			}
			route := egress.Route{Host: r.Host, Ports: r.Ports, Intercept: true, Upstream: o.upstream}
			if err := egress.AddRoute(b.EgressDir(), b.GatewayDir(), route); err != nil {
				return "", err
			}
		case supervise.KindCapability:
			if err := files.WriteAtomic(agent.CapabilityFile(b.AgentDir()), []byte(r.Containerfile), 0o644); err != nil {
				return "", err
			}
			if err := b.Preserve("capability " + reqID + " approved"); err != nil {
				return "", err
			}
			restart = true
		}
	}
	if _, err := store.Decide(reqID, status, o.reason, whoami()); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("%s %s of %s", status, reqID, id)
	if !restart {
		return msg, nil
	}
	// Let the agent's pending tool call hear the answer before its bottle goes.
	time.Sleep(1500 * time.Millisecond)
	conn, err := pod.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.RemoveBottle(ctx, sidecars.PodName(id), id); err != nil {
		return "", err
	}
	return msg + fmt.Sprintf("\nbottle %s stopped for its new image; carry on with: bottle resume %s", id, id), nil
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
