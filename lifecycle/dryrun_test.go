package lifecycle

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"testing"
)

// A dry run previews what a start would do even where the start would
// stop: with no sign-in, in a folder of root's that rootful Podman would
// write as root, with an image still to build; it says what is missing,
// each at its row, and from which hosts the image would come. Nothing is
// made, the engine is only asked which images it holds, and the outcome
// is an error naming the rows, so a script sees the start would not go.
func TestDryRunPreviewsWhatIsMissing(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no sign-in of the person's
	t.Setenv("ANTHROPIC_API_KEY", "")
	t.Setenv("CLAUDE_CODE_OAUTH_TOKEN", "")
	const base = "docker.io/library/node:22-bookworm-slim"

	cases := []struct {
		name    string
		agent   string
		lacks   func(built string) []string
		missing []string // rows
		image   ImageWork
	}{
		{name: "claude, nothing here", agent: "claude", lacks: func(built string) []string { return []string{built, base} },
			missing: append([]string{"signin"}, rootOwned()...),
			image:   ImageWork{Build: true, Hosts: []string{"docker.io"}, Network: "the host's network, as any Podman build of your own"}},
		{name: "claude, base here", agent: "claude", lacks: func(built string) []string { return []string{built} },
			missing: append([]string{"signin"}, rootOwned()...),
			image:   ImageWork{Build: true, Network: "the host's network, as any Podman build of your own"}},
		{name: "a local image not here", agent: "t", lacks: func(string) []string { return []string{"localhost/bottle-base:latest"} },
			missing: []string{"image"}, image: ImageWork{Pull: true, Hosts: []string{"localhost"}}},
		{name: "all there", agent: "t", lacks: func(string) []string { return nil }, image: ImageWork{Present: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newLaunchWorld(t)
			w.answer = errors.New("a dry run asks nothing")
			var pf Preflight
			shown := 0
			l := w.launch(t, func(l *Launch) {
				l.Agent, l.DryRun, l.Yes = w.agent(t, c.agent), true, false
				l.ShowPreflight = func(_ io.Writer, p Preflight) error { pf, shown = p, shown+1; return nil }
			})
			// The built image's name is the plan's: the first preview learns it.
			w.eng.lacks = map[string]bool{}
			if c.agent == "claude" {
				l.Run(context.Background(), w.env())
				w.eng.lacks[pf.Plan.Main().Image.Ref] = true
				w.eng.calls = nil
			}
			for _, ref := range c.lacks(pf.planRef()) {
				w.eng.lacks[ref] = true
			}
			err := l.Run(context.Background(), w.env())
			if shown == 0 || pf.Plan == nil {
				t.Fatalf("no preview: %v", err)
			}
			var rows []string
			for _, m := range pf.Missing {
				rows = append(rows, m.Row)
			}
			if !slices.Equal(rows, c.missing) {
				t.Errorf("missing %v, want %v (%+v)", rows, c.missing, pf.Missing)
			}
			var ie *IncompleteError
			if len(c.missing) > 0 && (!errors.As(err, &ie) || len(ie.Missing) != len(c.missing)) {
				t.Errorf("the dry run's outcome %v, want an IncompleteError of %v", err, c.missing)
			}
			if len(c.missing) == 0 && err != nil {
				t.Errorf("the dry run's outcome: %v", err)
			}
			if pf.Image == nil || pf.Image.Present != c.image.Present || pf.Image.Pull != c.image.Pull || pf.Image.Build != c.image.Build ||
				!slices.Equal(pf.Image.Hosts, c.image.Hosts) || pf.Image.Network != c.image.Network {
				t.Errorf("image work %+v, want %+v", pf.Image, c.image)
			}
			for _, call := range w.eng.called() {
				if call != "has-image" {
					t.Errorf("a dry run asked the engine to %s", call)
				}
			}
			w.check(t, outcome{})
		})
	}
}

// planRef is the agent image of the preview's plan ("" before one).
func (p Preflight) planRef() string {
	if p.Plan == nil {
		return ""
	}
	return p.Plan.Main().Image.Ref
}

// rootOwned is the user row a rootful start refuses in a folder of root's
// (the test's folders are the caller's: root's when run as root).
func rootOwned() []string {
	if os.Getuid() == 0 {
		return []string{"user"}
	}
	return nil
}
