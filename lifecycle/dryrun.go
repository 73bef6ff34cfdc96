package lifecycle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/containerfile"
	"github.com/containers/image/v5/docker/reference"
)

// Missing is something a start would stop at, which a dry run shows in
// its preview instead of stopping: Row is the preflight's row it concerns
// (signin, user, image), Why what is wrong and how to put it right.
type Missing struct {
	Row string `json:"row"`
	Why string `json:"why"`
}

// IncompleteError is a dry run's outcome when a start would stop.
type IncompleteError struct{ Missing []Missing }

func (e *IncompleteError) Error() string {
	var rows []string
	for _, m := range e.Missing {
		if !slices.Contains(rows, m.Row) {
			rows = append(rows, m.Row)
		}
	}
	return "dry run: a start would stop here, at what the preview marks MISSING (" + strings.Join(rows, ", ") + ")"
}

// Whys is every reason, on one line, for a caller that shows no preview.
func (e *IncompleteError) Whys() string {
	whys := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		whys[i] = m.Why
	}
	return strings.Join(whys, "; ")
}

// ImageWork is what a start would still do for the agent's image, where
// the bottle runs.
type ImageWork struct {
	// Present: the engine holds it; a start neither pulls nor builds it.
	Present bool `json:"present"`
	// Pull: it is pulled, from Hosts.
	Pull bool `json:"pull,omitempty"`
	// Build: it is built from its Containerfile; Hosts are the registries
	// its FROM images not held yet are pulled from, Network what its RUN
	// steps reach.
	Build   bool     `json:"build,omitempty"`
	Hosts   []string `json:"hosts,omitempty"`
	Network string   `json:"network,omitempty"`
}

// registryOf is the host an image reference is pulled from.
func registryOf(ref string) string {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.Domain(n)
}

// imageWork asks the engine whether it holds the agent's image and works
// out what a start would do to have it, and from which hosts; what would
// stop the start is added to missing.
func (s *launching) imageWork(ctx context.Context) (*ImageWork, error) {
	img := s.plan.Main().Image
	has, err := s.env.Engine.HasImage(ctx, s.plan, img.Ref)
	if err != nil || has {
		return &ImageWork{Present: has}, err
	}
	if img.Containerfile == "" {
		host := registryOf(img.Ref)
		if host == "localhost" {
			s.missing = append(s.missing, Missing{Row: "image", Why: "the image " + img.Ref + " is not on this machine, and a localhost/ image is never pulled: build it, or name another in the profile's image"})
		}
		return &ImageWork{Pull: true, Hosts: []string{host}}, nil
	}
	w := &ImageWork{Build: true}
	f := s.build
	if f == nil {
		// The person's own Containerfile (or a built-in one in the
		// bottle's folder); one Podman cannot read is the build's to refuse.
		if data, err := os.ReadFile(img.Containerfile); err == nil {
			f, _ = containerfile.Parse(img.Containerfile, data)
		}
	}
	var froms []string
	if f != nil {
		froms = f.Images()
	}
	for _, from := range froms {
		has, err := s.env.Engine.HasImage(ctx, s.plan, from)
		if err != nil {
			return nil, err
		}
		switch {
		case has:
		case img.Isolated:
			s.missing = append(s.missing, Missing{Row: "image", Why: "FROM " + from + " is not on this machine, and an isolated build uses local images only: pull it first"})
		case !slices.Contains(w.Hosts, registryOf(from)):
			w.Hosts = append(w.Hosts, registryOf(from))
		}
	}
	switch {
	case img.Through != nil:
		var hosts []string
		for _, r := range s.Agent.BuildEgress {
			hosts = append(hosts, r.Host)
		}
		w.Network = "only " + strings.Join(hosts, ", ") + " (build_egress), through the bottle's egress"
	case img.Isolated:
		w.Network = "none"
	default:
		w.Network = "the host's network, as any Podman build of your own"
	}
	return w, nil
}

// unplannable notes, in a dry run, what the plan cannot be made without,
// and returns false when it is not a dry run (the start stops on it).
func (s *launching) unplannable(row string, err error) bool {
	if !s.DryRun {
		return false
	}
	s.missing = append(s.missing, Missing{Row: row, Why: err.Error()})
	return true
}

// String is the image work as the preflight shows it.
func (w *ImageWork) String() string {
	switch {
	case w.Present:
		return "present"
	case w.Pull:
		return fmt.Sprintf("not here yet: a start pulls it from %s", strings.Join(w.Hosts, ", "))
	case len(w.Hosts) > 0:
		return fmt.Sprintf("not built yet: a start builds it, pulling its FROM images from %s; its steps reach %s", strings.Join(w.Hosts, ", "), w.Network)
	default:
		return "not built yet: a start builds it; its steps reach " + w.Network
	}
}

// Shown is how a preview names path: as it is, or, in the folder of a
// bottle the dry run does not keep, by its place in any bottle's folder
// ("<bottle>/agent/home"): a dry run names nothing that is not there
// after it.
func (p Preflight) Shown(path string) string {
	if p.Passing == "" {
		return path
	}
	if rel, err := filepath.Rel(p.Passing, path); err == nil && filepath.IsLocal(rel) {
		return "<bottle>/" + filepath.ToSlash(rel)
	}
	return path
}

// BuiltFrom is how a preview names the Containerfile the agent's image is
// built from: as Shown, but a copy the dry run does not keep by what it
// is a copy of (bottle's built-in one, or the working directory's).
func (p Preflight) BuiltFrom() string {
	cf := p.Plan.Main().Image.Containerfile
	if shown := p.Shown(cf); shown == cf || p.Agent == nil || p.Agent.Containerfile == "" {
		return shown
	}
	if name, ok := strings.CutPrefix(p.Agent.Containerfile, config.Embedded); ok {
		return "bottle's built-in " + name
	}
	return p.Agent.Containerfile
}
