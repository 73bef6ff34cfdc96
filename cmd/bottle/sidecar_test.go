package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/sidecarcli"
	"github.com/urfave/cli/v2"
)

// tree lists a command and its subcommands, each with its flags (names,
// whether required, the default), one line each.
func tree(prefix string, c *cli.Command) []string {
	name := prefix + c.Name
	var flags []string
	for _, f := range c.Flags {
		req := false
		if r, ok := f.(cli.RequiredFlag); ok {
			req = r.IsRequired()
		}
		def := ""
		if d, ok := f.(cli.DocGenerationFlag); ok {
			def = d.GetDefaultText()
		}
		flags = append(flags, fmt.Sprintf("--%s(required=%v,default=%q)", strings.Join(f.Names(), "|"), req, def))
	}
	lines := []string{name + " " + strings.Join(flags, " ")}
	for _, s := range c.Subcommands {
		lines = append(lines, tree(name+" ", s)...)
	}
	return lines
}

func sidecarOf(t *testing.T, app *cli.App) *cli.Command {
	t.Helper()
	for _, c := range app.Commands {
		if c.Name == "sidecar" {
			return c
		}
	}
	t.Fatalf("%s has no sidecar command", app.Name)
	return nil
}

// The containers' commands are the same whichever binary runs them:
// bottle-sidecar's sidecar tree is bottle's, subcommand for subcommand and
// flag for flag, and it is all bottle-sidecar has.
func TestTheSidecarBinaryHasBottlesSidecarTree(t *testing.T) {
	bottle := newApp(&globals{stdout: io.Discard, stderr: io.Discard})
	small := sidecarcli.NewApp(&sidecarcli.Options{Stderr: io.Discard}, "", nil, io.Discard)
	got, want := tree("", sidecarOf(t, small)), tree("", sidecarOf(t, bottle))
	if !slices.Equal(got, want) {
		t.Errorf("bottle-sidecar's tree:\n%s\nbottle's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(want) < 20 {
		t.Errorf("bottle's sidecar tree has %d commands, want its 20 and more:\n%s", len(want), strings.Join(want, "\n"))
	}
	if len(small.Commands) != 1 {
		t.Errorf("bottle-sidecar has %d commands, want the sidecar tree alone", len(small.Commands))
	}
}
