package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/urfave/cli/v2"
)

type lsOptions struct{ json, quiet bool }

func newLsCommand(g *globals) *cli.Command {
	o := &lsOptions{}
	return &cli.Command{
		Name:  "ls",
		Usage: "list bottles: running ones and kept ones",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON", Destination: &o.json},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print identities only, one a line", Destination: &o.quiet},
		},
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 0); err != nil {
				return err
			}
			if o.json && o.quiet {
				return usageError(c, "--json and --quiet: choose one")
			}
			return runLs(c.Context, g, o)
		},
	}
}

func runLs(ctx context.Context, g *globals, o *lsOptions) error {
	var rows []lifecycle.Row
	err := withEnv(ctx, g, func(env lifecycle.Env) (err error) {
		rows, err = lifecycle.List(ctx, env)
		return err
	})
	if err != nil {
		return err
	}
	switch {
	case o.json:
		return printJSON(g.stdout, rows)
	case o.quiet:
		for _, r := range rows {
			if !r.Warm {
				fmt.Fprintln(g.stdout, r.Identity)
			}
		}
		return nil
	}
	// Warm bottles are not the person's: they come apart, after.
	var warm []lifecycle.Row
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY\tAGENT\tSTATUS\tAGE\tWHERE\tWORKDIR")
	for _, r := range rows {
		if r.Warm {
			warm = append(warm, r)
			continue
		}
		status := r.Status
		if r.Status == lifecycle.StatusKept {
			status += " (" + resumeHint(r.Identity) + ")"
		}
		where := r.Where
		if where == "" {
			where = "-" // a pod whose state is gone
		}
		// A working directory's name is the person's, or a tarball's: text.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Identity, r.Agent, status, age(r.StartedAt), printable(where, false), printable(r.Workdir, false))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(warm) == 0 {
		return nil
	}
	fmt.Fprintln(g.stdout, "\nWarm bottles (made ahead for bottle start to claim):")
	tw = tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY\tPROFILE\tSTATUS\tAGE\tWHERE")
	for _, r := range warm {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Identity, r.Agent, r.Status, age(r.StartedAt), printable(r.Where, false))
	}
	return tw.Flush()
}

// printJSON writes a list as indented JSON; an empty list is [], not null.
func printJSON[T any](w io.Writer, list []T) error {
	if list == nil {
		list = []T{}
	}
	return printIndented(w, list)
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
