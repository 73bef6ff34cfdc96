package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// Resume relaunches a kept bottle under its identity.
type Resume struct {
	ID         string
	Yes        bool
	Keep       bool
	Detach     bool
	Args       []string // replace the recorded arguments when HasArgs
	HasArgs    bool
	ConfigFile string // the user's config file the command was given, if any
	// Reviewed: the person has seen what changed in the workspace's git
	// metadata since the first start (workspace.Change) and carries on.
	Reviewed      bool
	ShowPreflight func(w io.Writer, p Preflight) error
}

// Run applies the user's config as it is now, layered with the working
// directory's bottle.toml as the bottle's first start read it (unless the
// person takes a change), to the profile, workspace and arguments the
// bottle was made with, and launches it.
func (r *Resume) Run(ctx context.Context, env Env) error {
	if state.ValidID(r.ID) {
		// Its last session may still be ending: the resume starts from its end.
		if err := awaitTeardown(ctx, env, env.Root.Bottle(r.ID)); err != nil {
			return err
		}
	}
	b, err := env.Root.Open(r.ID)
	if err != nil {
		return err
	}
	if err := notRunningNow(ctx, env, r.ID); err != nil {
		return err
	}
	m, err := b.Metadata()
	if err != nil {
		return err
	}
	// Nothing of the working directory is read before it is known to be
	// the folder the first start recorded (a copy bottle's too: one in
	// another's bind workspace can have its folder replaced by a link to
	// the person's files), and then only through that record.
	wd, err := recordedWorkdir(b, m.Workdir)
	if err != nil {
		return err
	}
	wdData, err := resumeWorkdirConfig(ctx, env, b, wd, r.Yes)
	if err != nil {
		return err
	}
	src, err := config.DefaultSources(r.ConfigFile, m.Workdir)
	if err != nil {
		return err
	}
	src.WorkdirData, src.UseWorkdirData = wdData, true
	cfg, err := config.Load(src)
	if err != nil {
		return err
	}
	resolved, err := cfg.Agent(m.Agent)
	if err != nil {
		return err
	}
	// The workspace a bottle was made with is part of what it is.
	a := *resolved
	a.Workspace = m.Workspace
	l := &Launch{Agent: &a, Workdir: m.Workdir, Args: m.Args, Yes: r.Yes, Keep: r.Keep, Detach: r.Detach, Repositories: cfg.Repositories, Reviewed: r.Reviewed,
		Resume: b, WorkdirConfig: wdData, ShowPreflight: r.ShowPreflight}
	if r.HasArgs {
		l.Args = r.Args
	}
	// An approved capability request left a Containerfile of this bottle's
	// own: the agent wrote it, so it builds isolated, in an empty context of
	// the bottle's own, or the profile's (copied, if a working directory's).
	if cf := agent.CapabilityFile(b.AgentDir()); exists(cf) {
		img := spec.Image{Containerfile: cf, Context: agent.CapabilityContext(b.AgentDir()), Isolated: true}
		switch {
		case a.Containerfile == "" || strings.HasPrefix(a.Context, config.Embedded):
			if err := os.MkdirAll(img.Context, 0o700); err != nil {
				return err
			}
		case slices.Contains(a.FromWorkdir, "containerfile") || slices.Contains(a.FromWorkdir, "context"):
			if _, img.Context, err = copyWorkdirBuild(&a, b, m.Workdir, wd); err != nil {
				return err
			}
		default:
			img.Context = a.Context
		}
		if img.Ref, err = spec.BuildRef(a.Name, img.Containerfile, img.Context); err != nil {
			return err
		}
		l.Image = &img
	}
	return l.Run(ctx, env)
}

// notRunningNow refuses to resume a bottle whose agent runs (a detached
// one, which no command holds): the resume would remove its pod, and the
// agent's work with it.
func notRunningNow(ctx context.Context, env Env, id string) error {
	pods, err := env.Engine.List(ctx, sidecars.RootLabel(env.Root.Dir))
	if err != nil {
		return inBottleTerms(id, err)
	}
	for _, p := range pods {
		if p.Identity == id && p.Containers[agent.Service] == "running" {
			return fmt.Errorf("bottle %s is running: bottle attach %s (or bottle stop %s, then resume it)", id, id, id)
		}
	}
	return nil
}

// recordedWorkdir is the working directory a bottle's first start
// recorded, refused (MovedError) when another folder or a link stands at
// its path now; a bottle of an earlier version recorded none.
func recordedWorkdir(b *state.Bottle, workdir string) (beneath.Dir, error) {
	r, err := readRecord(b)
	if errors.Is(err, fs.ErrNotExist) {
		return beneath.At(workdir), nil
	}
	if err != nil {
		return beneath.Dir{}, err
	}
	if err := r.Here(); err != nil {
		return beneath.Dir{}, err
	}
	return r.Workspace(), nil
}

// exists says whether a file of the bottle's own folder (which no
// container mounts) is there.
func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
