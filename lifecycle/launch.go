package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/containerfile"
	"github.com/bottle-sandbox/bottle/internal/signin"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// Env is what every use case works with.
type Env struct {
	Root   state.Root
	Engine Engine
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Version is bottle's own, for labels and metadata; Exe the bottle
	// binary, which the sidecar image is made of.
	Version string
	Exe     string
	// Ask puts a yes-or-no question to the person (the terminal's); any
	// answer but yes is ErrDeclined.
	Ask func(ctx context.Context, question string) error
}

// ErrDeclined is the person's no.
var ErrDeclined = errors.New("declined")

// ExitError carries the agent's exit code up, with nothing more to say.
type ExitError int

func (e ExitError) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

// Preflight is what a launch shows before it goes ahead.
type Preflight struct {
	ID      string
	Engine  spec.EngineInfo
	Agent   *config.Agent
	Plan    *spec.Plan
	Workdir string
	Gate    *gitgate.Plan
	// Signin is how the agent signs in (nil: the profile does not say).
	Signin *signin.Choice
	// Build is an isolated build's Containerfile as the builder reads it,
	// checked (nil: the image is not built isolated).
	Build *containerfile.File
}

// Launch is one run of a bottle, fresh or under a kept identity.
type Launch struct {
	Agent   *config.Agent // the profile, resolved; never changed by the launch
	Workdir string
	Args    []string // nil: the profile's own
	Yes     bool     // go ahead without asking
	DryRun  bool     // show the preflight (on stdout) and stop
	Keep    bool
	Detach  bool
	// Resume is the kept bottle to relaunch; nil for a fresh start.
	Resume *state.Bottle
	// WorkdirConfig is the working directory's bottle.toml this launch
	// applies (nil: none), recorded for later resumes.
	WorkdirConfig []byte
	// IsolatedBuild: the Containerfile is an agent's (an approved request).
	IsolatedBuild bool
	// Repositories are the person's repositories (their config's) that a
	// working directory's git metadata may lead to.
	Repositories []string
	// Reviewed: a resume whose workspace's recorded git metadata changed
	// goes ahead, the person having seen the change.
	Reviewed bool
	// Image overrides where the agent's image comes from (a resume's
	// approved Containerfile); nil: the profile's.
	Image *spec.Image
	// ShowPreflight prints what the bottle will be.
	ShowPreflight func(w io.Writer, p Preflight) error
}

// launching is one launch under way: what each step leaves for the next.
type launching struct {
	*Launch
	env     Env
	b       *state.Bottle
	in      sidecars.Input
	plan    *spec.Plan
	meta    state.Metadata
	td      *teardown
	started func() error // starts the sidecars still to start, as the agent attaches
	t0      time.Time
	signin  *signin.Choice
	build   *containerfile.File // an isolated build's Containerfile, as checked
}

// errStop ends a launch early with nothing wrong: a dry run.
var errStop = errors.New("stop")

// Run prepares, confirms, creates and runs the bottle, and tears it down on
// every way out: success, agent failure, a declined preflight, --dry-run, an
// error while preparing, and an interrupt. The steps, in the only order they
// can run in: claim the bottle's folder; plan it (nothing is written but its
// records); show the preflight and confirm; prepare every service's folder;
// make the images; create the pod; attach (or leave it detached); tear down.
func (l *Launch) Run(ctx context.Context, env Env) error {
	// Signed in as the person is on this host: the launch runs a copy of
	// the profile with the sign-in's credential on its route.
	home, _ := os.UserHomeDir()
	signed, choice, err := signin.Apply(l.Agent, signin.Host{Getenv: os.Getenv, Home: home})
	if err != nil {
		return err
	}
	lc := *l
	lc.Agent = signed
	s := &launching{Launch: &lc, env: env, t0: time.Now(), signin: choice}
	if err := s.check(); err != nil {
		return err
	}
	if err := s.claim(); err != nil {
		return err
	}
	defer s.teardown(ctx)
	if err := s.settleKept(ctx); err != nil {
		return err
	}
	if err := s.alone(ctx); err != nil {
		return err
	}
	steps := []struct {
		name string
		do   func(context.Context) error
	}{
		{"plan", s.planBottle},
		{"preflight", s.preflight},
		{"prepare", s.prepare},
		{"images", s.images},
		{"attach", s.attach},
	}
	for _, st := range steps {
		err := st.do(ctx)
		slog.Debug(st.name, "elapsed", time.Since(s.t0).Round(time.Millisecond))
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *launching) check() error {
	info := s.env.Engine.Info()
	if s.Detach && info.Ephemeral {
		return errors.New("no Podman service is running, and a detached bottle needs one that outlives this command: start one (systemctl --user enable --now podman.socket, or podman system service --time=0 &)")
	}
	if s.Agent.Runtime == config.RuntimeRunsc {
		return s.env.Engine.CheckRuntime(config.RuntimeRunsc)
	}
	return nil
}

// claim takes the bottle's folder: a fresh identity's, or the kept one's.
func (s *launching) claim() error {
	b := s.Resume
	if b == nil {
		var err error
		if b, err = s.env.Root.Create(s.Agent.Name); err != nil {
			return err
		}
	}
	lock, err := b.Lock()
	if err != nil {
		if s.Resume == nil {
			b.Remove() // ours, just made: leave nothing half-made
		}
		return err
	}
	s.b = b
	s.td = &teardown{engine: s.env.Engine, bottle: b, pod: sidecars.PodName(b.ID), stderr: s.env.Stderr, keep: s.Keep, lock: lock}
	return nil
}

// settleKept readies a kept bottle for its resume: whatever of it still
// runs goes (a stale pod of this identity), and what its last session left
// is settled (a detached one ended with no launcher to do it), so nothing
// of the bottle runs while the host reads and writes its folders.
func (s *launching) settleKept(ctx context.Context) error {
	if s.Resume == nil {
		return nil
	}
	if err := s.env.Engine.RemoveBottle(ctx, sidecars.PodName(s.b.ID), s.b.ID); err != nil {
		return err
	}
	return Settle(ctx, s.b, s.env.Stderr)
}

// teardown runs on every way out, an interrupt too: what the launch made
// goes through a context of its own, which the interrupt did not end.
func (s *launching) teardown(ctx context.Context) {
	s.td.run(context.WithoutCancel(ctx))
	slog.Debug("torn down", "elapsed", time.Since(s.t0).Round(time.Millisecond))
}

// planBottle works out the bottle: its image, the workspace as recorded at
// the first start, the git gate, and the plan of its pod.
func (s *launching) planBottle(ctx context.Context) error {
	b, info := s.b, s.env.Engine.Info()
	s.in = sidecars.Input{
		Identity:  b.ID,
		Agent:     s.Agent,
		Workdir:   s.Workdir,
		StateRoot: s.env.Root.Dir,
		Args:      s.Args,
		Resume:    s.Resume != nil,
		Version:   s.env.Version,
		Host:      hostOf(info, s.Workdir),
	}
	var err error
	if s.Image != nil {
		s.in.Image = *s.Image
	} else if s.in.Image, err = imageOf(s.Agent, b, s.Workdir); err != nil {
		return err
	}
	s.in.Image.Isolated = s.in.Image.Isolated || s.IsolatedBuild
	var buildFrom []string
	if s.build, buildFrom, err = isolatedBuild(s.Agent, b, &s.in.Image); err != nil {
		return err
	}
	if s.signin != nil && s.signin.Use == signin.UseCredentials {
		s.in.SigninFile = s.signin.Credentials
	}
	if s.in.SidecarImage, err = spec.SidecarRef(s.env.Exe); err != nil {
		return err
	}
	if err := recordWorkdirConfig(b, filepath.Join(s.Workdir, "bottle.toml"), s.WorkdirConfig); err != nil {
		return err
	}
	if s.in.Workspace, err = workspaceRecord(b, s.Workdir, s.Agent.Workspace, s.Repositories); err != nil {
		return err
	}
	if s.Resume != nil && s.Agent.Workspace == config.WorkspaceBind {
		// What the first start recorded is what gets mounted again: it must
		// still be what it was, or the person must have seen what changed.
		if err := reviewWorkspace(b, s.in.Workspace, s.Reviewed); err != nil {
			return err
		}
	}
	if s.in.Gate, err = gitgate.NewPlan(ctx, b.ID, s.in.Workspace, s.Agent.Git); err != nil {
		return err
	}
	if s.plan, err = sidecars.Build(s.in); err != nil {
		return err
	}
	s.meta = state.Metadata{
		Identity: b.ID, Agent: s.Agent.Name, Workdir: s.Workdir, Workspace: s.Agent.Workspace,
		Runtime: s.Agent.Runtime, Image: s.in.Image.Ref, Version: s.env.Version, StartedAt: time.Now().UTC(), Args: s.Args,
		AutoResume: s.Agent.AutoResume, BuildFrom: buildFrom,
	}
	if info.Name == "kubernetes" {
		s.meta.Engine, s.meta.Context, s.meta.Namespace = info.Name, info.Context, info.Namespace
	}
	if s.Resume != nil {
		if old, err := s.Resume.Metadata(); err == nil {
			s.meta.StartedAt = old.StartedAt
		}
	}
	return b.WriteMetadata(s.meta)
}

// preflight shows the plan and asks to go ahead; a dry run stops here.
func (s *launching) preflight(ctx context.Context) error {
	p := Preflight{ID: s.b.ID, Engine: s.env.Engine.Info(), Agent: s.Agent, Plan: s.plan, Workdir: s.Workdir, Gate: s.in.Gate, Signin: s.signin, Build: s.build}
	if s.DryRun {
		if err := s.ShowPreflight(s.env.Stdout, p); err != nil {
			return err
		}
		return errStop
	}
	if err := s.ShowPreflight(s.env.Stderr, p); err != nil {
		return err
	}
	if s.Yes {
		return nil
	}
	return s.env.Ask(ctx, "Start it? [y/N] ")
}

// prepare writes every service's folder: the agent's home, prompt and git
// folder, the egress routes, secrets and CA, the gate's mirrors and
// credentials, the supervise configuration.
func (s *launching) prepare(ctx context.Context) error {
	b, in := s.b, s.in
	if err := agent.Prepare(ctx, sidecars.AgentInput(in), s.Resume == nil); err != nil {
		return err
	}
	if s.Resume == nil && len(s.Agent.Setup) > 0 {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		_, skipped, err := agent.CopySetup(sidecars.AgentInput(in), home, s.Agent.Setup)
		if err != nil {
			return err
		}
		for _, sk := range skipped {
			fmt.Fprintf(s.env.Stderr, "bottle: setup: left out %s\n", sk)
		}
	}
	if err := agent.WriteHomeFiles(sidecars.AgentInput(in), s.Agent.HomeFiles, supervise.URL); err != nil {
		return err
	}
	if in.SigninFile != "" {
		// The agent's home gets a login of the same shape, holding placeholders.
		if err := agent.WriteHomeFile(sidecars.AgentInput(in), signin.Schemes[s.Agent.Signin.Agent].CredentialsFile, func([]byte) ([]byte, error) {
			host, err := os.ReadFile(in.SigninFile)
			if err != nil {
				return nil, err
			}
			return signin.AgentCredentials(s.Agent.Signin.Agent, host)
		}); err != nil {
			return fmt.Errorf("sign in: %w", err)
		}
	}
	var gitDests, gitNamed []string
	if in.Gate != nil {
		gitDests, gitNamed = in.Gate.Destinations, in.Gate.Named
	}
	injected, err := egress.Prepare(ctx, b.ID, b.EgressDir(), b.GatewayDir(), b.AgentDir(), s.Agent.EgressRoutes(), s.Agent.BuildEgress, gitDests, gitNamed)
	if err != nil {
		return err
	}
	if in.Gate != nil {
		// The gate refuses pushes carrying a secret the proxy injects.
		if err := in.Gate.Write(b.GitGateFolder(), in.Workspace, injected); err != nil {
			return err
		}
	}
	var containerfile []byte
	if cf := in.Image.Containerfile; cf != "" {
		if containerfile, err = os.ReadFile(cf); err != nil {
			return fmt.Errorf("read %s: %w", cf, err)
		}
	}
	return supervise.Prepare(b.SuperviseDir(), s.Agent, in.Image.Ref, containerfile)
}

// images makes the sidecar image and the agent's, and creates the pod: at
// once, or, for an isolated build that may reach hosts (build_egress), its
// egress first, to build through (buildThroughEgress).
func (s *launching) images(ctx context.Context) error {
	e, b := s.env.Engine, s.b
	if err := mountsBeneath(s.plan, s.workspaceDir()); err != nil {
		return err
	}
	if _, err := e.EnsureSidecarImage(ctx, s.env.Exe); err != nil {
		return err
	}
	main := s.plan.Main()
	s.started = func() error { return e.StartSidecars(ctx, s.plan) }
	staged := false
	if main.Image.Isolated && len(s.Agent.BuildEgress) > 0 {
		exists, err := e.ImageExists(ctx, main.Image.Ref)
		if err != nil {
			return err
		}
		staged = !exists
	}
	var err error
	if staged {
		s.td.created = true
		var rest *spec.Plan
		if s.meta.ImageDigest, rest, err = buildThroughEgress(ctx, e, s.plan, s.in, s.env.Stderr); err != nil {
			return err
		}
		s.started = func() error { return e.StartSidecars(ctx, rest) }
	} else {
		if s.meta.ImageDigest, err = e.EnsureImage(ctx, main.Image, s.env.Stderr); err != nil {
			return err
		}
		s.td.created = true
		if err := e.CreatePod(ctx, s.plan); err != nil {
			return err
		}
		if err := e.CreateContainers(ctx, s.plan, s.plan.Containers); err != nil {
			return err
		}
	}
	return b.WriteMetadata(s.meta)
}

// attach starts the sidecars and the agent, attached to the streams, and
// returns the agent's exit; or, detached, leaves it running and prints the
// identity.
func (s *launching) attach(ctx context.Context) error {
	e, main := s.env.Engine, s.plan.Main()
	if s.Detach {
		if err := s.started(); err != nil {
			return err
		}
		if err := e.StartContainer(ctx, main.Name); err != nil {
			return err
		}
		s.td.detached = true
		fmt.Fprintln(s.env.Stdout, s.b.ID)
		return nil
	}
	code, err := e.Run(ctx, main.Name, s.env.Stdin, s.env.Stdout, s.env.Stderr, s.started)
	if err != nil {
		return err
	}
	slog.Debug("agent exited", "identity", s.b.ID, "code", code)
	if code != 0 {
		return ExitError(code)
	}
	return nil
}

// mountsBeneath checks, with nothing of the bottle running, that no mount
// whose source lies in the working directory (nested git metadata, the
// workspace's own object folders) reaches it through a link: an engine
// follows links in a mount's source, bottle does not let it.
func mountsBeneath(p *spec.Plan, wd beneath.Dir) error {
	workdir := wd.Path()
	for _, c := range p.Containers {
		for _, m := range c.Mounts {
			rel, err := filepath.Rel(workdir, m.Source)
			if err != nil || !filepath.IsLocal(rel) {
				continue
			}
			fi, err := wd.Lstat(rel)
			if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				err = beneath.ErrLink
			}
			if err != nil {
				return fmt.Errorf("mount %s: %w", m.Source, err)
			}
		}
	}
	return nil
}

// workspaceDir is the working directory, which must still be the folder
// the first start found (when it recorded it).
func (s *launching) workspaceDir() beneath.Dir {
	if s.in.Workspace != nil {
		return s.in.Workspace.Workspace()
	}
	return beneath.At(s.Workdir)
}

// hostOf describes the caller and the working directory's owner for the plan.
func hostOf(info spec.EngineInfo, workdir string) agent.Host {
	h := agent.Host{Rootless: info.Rootless, UID: info.UID, GID: info.GID}
	if fi, err := os.Stat(workdir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			h.OwnerUID, h.OwnerGID = int(st.Uid), int(st.Gid)
		}
	}
	return h
}

// teardown removes what a launch made, and its state unless it is kept.
type teardown struct {
	engine   Engine
	bottle   *state.Bottle
	pod      string
	stderr   io.Writer
	keep     bool
	lock     *state.Lock
	created  bool // a pod may exist
	detached bool // the bottle runs on: leave it
}

func (t *teardown) run(ctx context.Context) {
	defer t.lock.Unlock()
	if t.detached {
		return
	}
	if t.created {
		if err := t.engine.RemoveBottle(ctx, t.pod, t.bottle.ID); err != nil {
			fmt.Fprintf(t.stderr, "bottle: %v\n", err)
		} else if err := Settle(ctx, t.bottle, t.stderr); err != nil {
			fmt.Fprintf(t.stderr, "bottle: %v\n", err)
		}
	}
	if t.keep && t.created {
		if err := t.bottle.Preserve("--keep"); err != nil {
			fmt.Fprintf(t.stderr, "bottle: %v\n", err)
		}
	}
	if t.bottle.Preserved() {
		fmt.Fprintf(t.stderr, "bottle: state kept; carry on with: bottle resume %s\n", t.bottle.ID)
		return
	}
	if err := t.bottle.Remove(); err != nil {
		fmt.Fprintf(t.stderr, "bottle: %v\n", err)
	}
}
