package lifecycle

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/containerfile"
	"github.com/bottle-sandbox/bottle/internal/files"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// imageOf is where the agent's image comes from: the profile's reference,
// or a Containerfile, tagged by what its content hashes to. An embedded
// Containerfile is first written into the bottle's state, to serve as its
// build context. A Containerfile or context a working directory's
// bottle.toml named is copied into the bottle's state through the working
// directory (so no link leads out) and built isolated: no network, local
// images only.
func imageOf(a *config.Agent, b *state.Bottle, workdir string, wd beneath.Dir) (spec.Image, error) {
	if a.Containerfile == "" {
		return spec.Image{Ref: a.Image}, nil
	}
	img := spec.Image{Containerfile: a.Containerfile, Context: a.Context}
	if name, ok := strings.CutPrefix(a.Containerfile, config.Embedded); ok {
		data, err := config.EmbeddedFile(a.Containerfile)
		if err != nil {
			return img, err
		}
		dir := agent.BuiltinBuildDir(b.AgentDir())
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return img, fmt.Errorf("write built-in Containerfile: %w", err)
		}
		img.Containerfile, img.Context = filepath.Join(dir, name), dir
		if err := os.WriteFile(img.Containerfile, data, 0o644); err != nil {
			return img, fmt.Errorf("write built-in Containerfile: %w", err)
		}
	} else if slices.Contains(a.FromWorkdir, "containerfile") || slices.Contains(a.FromWorkdir, "context") {
		var err error
		if img.Containerfile, img.Context, err = copyWorkdirBuild(a, b, workdir, wd); err != nil {
			return img, err
		}
		img.Isolated = true
	}
	var err error
	img.Ref, err = spec.BuildRef(a.Name, img.Containerfile, img.Context)
	return img, err
}

// copyWorkdirBuild copies a working directory's Containerfile and build
// context into the bottle's state, and returns the copies. The working
// directory is hostile ground: nothing in it is read through a link, and
// wd is the folder the first start recorded.
func copyWorkdirBuild(a *config.Agent, b *state.Bottle, workdir string, wd beneath.Dir) (containerfile, contextDir string, err error) {
	relCF, err := below(workdir, a.Containerfile)
	if err != nil {
		return "", "", err
	}
	relCtx, err := below(workdir, a.Context)
	if err != nil {
		return "", "", err
	}
	cf, err := wd.ReadFile(relCF)
	if err != nil {
		return "", "", fmt.Errorf("read the working directory's Containerfile: %w", err)
	}
	dir := agent.WorkdirBuildDir(b.AgentDir())
	if err := os.RemoveAll(dir); err != nil {
		return "", "", err
	}
	dst, err := beneath.Make(dir, 0o700)
	if err != nil {
		return "", "", err
	}
	if err := beneath.CopyTree(wd, relCtx, dst, "context"); err != nil {
		return "", "", fmt.Errorf("copy the working directory's build context %s: %w", a.Context, err)
	}
	if err := dst.WriteFile("Containerfile", cf, 0o644); err != nil {
		return "", "", err
	}
	return filepath.Join(dir, "Containerfile"), filepath.Join(dir, "context"), nil
}

// below is p (a path a working directory's file named) below workdir.
func below(workdir, p string) (string, error) {
	rel, err := filepath.Rel(workdir, p)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%s is outside the working directory %s", p, workdir)
	}
	return rel, nil
}

// isolatedBuild works out what an isolated build of this bottle may start
// FROM (buildFrom), and, when img is one (a working directory's
// Containerfile, an agent's approved request), reads its Containerfile as
// the builder does and refuses it unless it keeps to what such a build
// allows (containerfile.CheckIsolated): then img is pointed at the file as
// checked, one instruction a line, beside the original, which is what the
// build is given. It returns the parsed file (nil for a build that is not
// isolated) and the images allowed.
func isolatedBuild(a *config.Agent, b *state.Bottle, img *spec.Image) (*containerfile.File, []string, error) {
	from, err := buildFrom(a, b, *img)
	if err != nil {
		return nil, nil, err
	}
	if !img.Isolated || img.Containerfile == "" {
		return nil, from, nil
	}
	name := a.Containerfile
	if img.Containerfile == agent.CapabilityFile(b.AgentDir()) {
		name = "the approved Containerfile"
	}
	data, err := os.ReadFile(img.Containerfile)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", img.Containerfile, err)
	}
	f, err := containerfile.Parse(name, data)
	if err != nil {
		return nil, nil, fmt.Errorf("an isolated build must read its Containerfile as Podman does: %w", err)
	}
	if err := f.Check(from); err != nil {
		return nil, nil, err
	}
	checked := img.Containerfile + ".checked"
	if err := files.WriteAtomic(checked, f.Canonical(from), 0o644); err != nil {
		return nil, nil, err
	}
	img.Containerfile = checked
	if img.Ref, err = spec.BuildRef(a.Name, checked, img.Context); err != nil {
		return nil, nil, err
	}
	return f, from, nil
}

// buildFrom lists the images an isolated build of a's bottle may start
// FROM: the person's build_from, and the image of the person's own profile
// it stands on (config.Agent.Trusted): its reference, or the image its
// Containerfile builds and those that Containerfile starts from. cur is
// the image this start uses, whose reference is reused when it is that one.
func buildFrom(a *config.Agent, b *state.Bottle, cur spec.Image) ([]string, error) {
	from := slices.Clone(a.BuildFrom)
	t := a.Trusted
	if t.Image != "" {
		from = append(from, t.Image)
	}
	if t.Containerfile == "" {
		return from, nil
	}
	own := cur
	if cur.Isolated || cur.Containerfile == "" || a.Containerfile != t.Containerfile {
		var err error
		if own, err = imageOf(&config.Agent{Name: a.Name, Profile: config.Profile{Containerfile: t.Containerfile, Context: t.Context}}, b, "", beneath.Dir{}); err != nil {
			return nil, err
		}
	}
	from = append(from, own.Ref)
	data, err := os.ReadFile(own.Containerfile)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", own.Containerfile, err)
	}
	// The person's own Containerfile: one Podman cannot read names nothing.
	if f, err := containerfile.Parse(t.Containerfile, data); err == nil {
		from = append(from, f.Images()...)
	}
	return from, nil
}

// BuildCheck is an agent's requested Containerfile as the bottle's next
// start would read it, for the person who approves it.
type BuildCheck struct {
	File     *containerfile.File // nil when Podman could not read it
	Err      error               // why it could not
	Refusals []containerfile.Refusal
	// Blocked: the request cannot be approved; else a refusal left is a
	// FROM the person's config may yet allow (build_from).
	Blocked bool
}

// CheckCapability reads a capability request's Containerfile as the next
// start of b builds it, isolated, against the images its last start
// allowed (the next start checks it again, with the config as it is then).
func CheckCapability(b *state.Bottle, r *supervise.Request) BuildCheck {
	m, _ := b.Metadata()
	f, err := containerfile.Parse("the requested Containerfile", []byte(r.Containerfile))
	if err != nil {
		return BuildCheck{Err: err, Blocked: true}
	}
	c := BuildCheck{File: f, Refusals: f.CheckIsolated(m.BuildFrom)}
	for _, rf := range c.Refusals {
		c.Blocked = c.Blocked || rf.Image == ""
	}
	return c
}
