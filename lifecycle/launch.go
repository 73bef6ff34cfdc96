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
	// TTY: the streams are a terminal.
	TTY bool
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
	env    Env
	info   spec.EngineInfo // the engine's, asked once
	b      *state.Bottle
	in     sidecars.Input
	plan   *spec.Plan
	meta   state.Metadata
	td     *teardown
	t0     time.Time
	signin *signin.Choice
	build  *containerfile.File // an isolated build's Containerfile, as checked
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
	return l.run(ctx, env, env.Engine.Info(), true)
}

// Plan works out the bottle l would start on the engine info describes
// and returns what its preflight shows, keeping nothing and asking no
// engine anything: for bottle kube manifest.
func (l *Launch) Plan(ctx context.Context, env Env, info spec.EngineInfo) (Preflight, error) {
	var pf Preflight
	lc := *l
	lc.DryRun, lc.Yes = true, true
	lc.ShowPreflight = func(_ io.Writer, p Preflight) error {
		pf = p
		return nil
	}
	err := lc.run(ctx, env, info, false)
	return pf, err
}

func (l *Launch) run(ctx context.Context, env Env, info spec.EngineInfo, check bool) error {
	// Signed in as the person is on this host: the launch runs a copy of
	// the profile with the sign-in's credential on its route.
	home, _ := os.UserHomeDir()
	signed, choice, err := signin.Apply(l.Agent, signin.Host{Getenv: os.Getenv, Home: home})
	if err != nil {
		return err
	}
	lc := *l
	lc.Agent = signed
	s := &launching{Launch: &lc, env: env, info: info, t0: time.Now(), signin: choice}
	if s.info.CopyOnly && lc.Agent.Workspace != config.WorkspaceCopy {
		// The engine cannot mount the host's folder: the workspace is a copy.
		copied := *lc.Agent
		copied.Workspace = config.WorkspaceCopy
		lc.Agent = &copied
	}
	if check {
		if err := s.check(ctx); err != nil {
			return err
		}
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

func (s *launching) check(ctx context.Context) error {
	if s.Detach && s.info.Ephemeral != "" {
		return fmt.Errorf("%s, and a detached bottle needs one that outlives this command: %s", s.info.Ephemeral, s.info.Lasting)
	}
	if s.Agent.Runtime == config.RuntimeRunsc {
		return s.env.Engine.CheckRuntime(ctx, config.RuntimeRunsc)
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
	s.td = &teardown{engine: s.env.Engine, bottle: b, stderr: s.env.Stderr, keep: s.Keep, lock: lock}
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
	if err := s.env.Engine.Remove(ctx, s.b.ID); err != nil {
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
	b, info := s.b, s.info
	// The working directory must still be the folder the first start
	// recorded; what is read of it below is read through the record.
	ws, err := workspaceRecord(b, s.Workdir, s.Agent.Workspace, s.Repositories)
	if err != nil {
		return err
	}
	if err := ws.Here(); err != nil {
		return err
	}
	s.in = sidecars.Input{
		Identity:  b.ID,
		Agent:     s.Agent,
		Workdir:   s.Workdir,
		StateRoot: s.env.Root.Dir,
		Args:      s.Args,
		Resume:    s.Resume != nil,
		Version:   s.env.Version,
		Host:      hostOf(info, s.Workdir),
		TTY:       s.env.TTY,
		Workspace: ws,
	}
	if s.Image != nil {
		s.in.Image = *s.Image
	} else if s.in.Image, err = imageOf(s.Agent, b, s.Workdir, s.workspaceDir()); err != nil {
		return err
	}
	s.in.Image.Isolated = s.in.Image.Isolated || s.IsolatedBuild
	var buildFrom []string
	if s.build, buildFrom, err = isolatedBuild(s.Agent, b, &s.in.Image); err != nil {
		return err
	}
	if s.in.Image.Isolated && len(s.Agent.BuildEgress) > 0 {
		// The build reaches the hosts build_egress allows through the
		// bottle's own proxy, with the agent's CA files.
		s.in.Image.Through = &spec.BuildNet{Proxy: "http://" + egress.ProxyAddr, CA: egress.AgentMounts(b.AgentDir())}
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
	s.meta.Engine, s.meta.Context, s.meta.Namespace = info.Name, info.Context, info.Namespace
	if s.Resume != nil {
		if old, err := s.Resume.Metadata(); err == nil {
			s.meta.StartedAt = old.StartedAt
		}
	}
	return b.WriteMetadata(s.meta)
}

// preflight shows the plan and asks to go ahead; a dry run stops here.
func (s *launching) preflight(ctx context.Context) error {
	p := Preflight{ID: s.b.ID, Engine: s.info, Agent: s.Agent, Plan: s.plan, Workdir: s.Workdir, Gate: s.in.Gate, Signin: s.signin, Build: s.build}
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

// images makes the sidecar image and the agent's, and creates the
// bottle. An isolated build that may reach hosts (build_egress) builds
// through the bottle's own egress, serving the build's routes for as long
// as it runs; the engine may bring that part of the bottle up for it, so
// the teardown removes the bottle from then on.
func (s *launching) images(ctx context.Context) error {
	e, b := s.env.Engine, s.b
	if err := mountsBeneath(s.plan, s.workspaceDir()); err != nil {
		return err
	}
	var err error
	if s.plan.Main().Image.Through != nil {
		s.td.created = true
		restore, rerr := egress.BuildRoutes(b.EgressDir(), b.GatewayDir())
		if rerr != nil {
			return rerr
		}
		s.meta.ImageDigest, err = e.Images(ctx, s.plan, s.env.Exe, s.env.Stderr)
		err = errors.Join(err, restore())
	} else {
		s.meta.ImageDigest, err = e.Images(ctx, s.plan, s.env.Exe, s.env.Stderr)
	}
	if err != nil {
		return err
	}
	s.td.created = true
	if err := e.Create(ctx, s.plan); err != nil {
		return err
	}
	return b.WriteMetadata(s.meta)
}

// attach starts the bottle: attached to the streams, it returns the
// agent's exit; detached, it leaves it running and prints the identity.
func (s *launching) attach(ctx context.Context) error {
	streams := spec.Streams{Stdin: s.env.Stdin, Stdout: s.env.Stdout, Stderr: s.env.Stderr, TTY: s.env.TTY}
	if s.Detach {
		if _, err := s.env.Engine.Up(ctx, s.plan, streams, true); err != nil {
			return err
		}
		s.td.detached = true
		fmt.Fprintln(s.env.Stdout, s.b.ID)
		return nil
	}
	code, err := s.env.Engine.Up(ctx, s.plan, streams, false)
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
		if err := t.engine.Remove(ctx, t.bottle.ID); err != nil {
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
