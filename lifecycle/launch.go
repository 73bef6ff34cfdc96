package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/containerfile"
	"github.com/bottle-sandbox/bottle/internal/signin"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
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
	// binary (what a handed-off teardown or the warm keeper runs).
	Version string
	Exe     string
	// Sidecar is the binary the containers run: the sidecar image's, the
	// agent's container's helper (sidecarcli.Binary: the sidecar binary
	// beside Exe, or Exe itself). Empty: Exe.
	Sidecar string
	// Ask puts a yes-or-no question to the person (the terminal's); any
	// answer but yes is ErrDeclined.
	Ask func(ctx context.Context, question string) error
	// Warmer makes warm bottles (nil: none are made or claimed).
	Warmer Warmer
	// Refill has the pools filled again in the background, once the
	// bottle after has its agent running or is over (nil: nobody does).
	Refill func(after string)
	// HandOff starts the rest of a session's teardown (Finish) in a
	// process of bottle's own that outlives this command, giving it the
	// bottle's lock, and calls started with its process id before that
	// process begins. nil: the whole teardown runs in this process.
	HandOff func(ctx context.Context, b *state.Bottle, lock *state.Lock, started func(pid int) error) error
}

// sidecarExe is the binary the containers run (Sidecar, else Exe).
func (e Env) sidecarExe() string {
	if e.Sidecar != "" {
		return e.Sidecar
	}
	return e.Exe
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
	// Approved are the routes a person approved on the agent's requests,
	// which a resumed bottle has again besides its profile's.
	Approved []ApprovedRoute
	// Image is what a start would do for the agent's image (nil: not
	// asked; only a dry run asks the engine).
	Image *ImageWork
	// Missing is what a start would stop at: a dry run shows it all.
	Missing []Missing
	// Passing is the bottle's folder when it is gone once the preview is
	// shown (a dry run of a fresh identity): see Shown.
	Passing string
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
	// ShowDetached says which bottle a detached start left running (nil:
	// its identity, on a line).
	ShowDetached func(w io.Writer, id string) error

	noWarm bool // a warm bottle's claim did not fit: start cold
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
	// approved are the routes a person approved on a kept bottle's requests.
	approved []ApprovedRoute
	// missing is what a dry run found a start would stop at.
	missing []Missing
	asks    bool // the engine may be asked (not for a plan alone)
	// person is the profile as the person's config says it, before the
	// sign-in; warm the claimed warm bottle's record (nil: a cold start),
	// whose pod exists while warmPod.
	person  *config.Agent
	warm    *warmRecord
	warmPod bool
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
	info := env.Engine.Info()
	err := l.run(ctx, env, info, true)
	if errors.Is(err, errNotWarm) {
		lc := *l
		lc.noWarm = true
		return lc.run(ctx, env, info, true)
	}
	return err
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
	if ie := (*IncompleteError)(nil); errors.As(err, &ie) {
		err = errors.New(ie.Whys()) // no preview showed them
	}
	return pf, err
}

func (l *Launch) run(ctx context.Context, env Env, info spec.EngineInfo, check bool) error {
	// Signed in as the person is on this host: the launch runs a copy of
	// the profile with the sign-in's credential on its route.
	home, _ := os.UserHomeDir()
	lc := *l
	s := &launching{Launch: &lc, env: env, info: info, t0: time.Now(), asks: check, person: l.Agent}
	signed, choice, err := signin.Apply(l.Agent, signin.Host{Getenv: os.Getenv, Home: home})
	if err != nil && !s.unplannable("signin", err) {
		return err
	}
	if err == nil {
		lc.Agent, s.signin = signed, choice
	}
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
	s.refill()
	if err := s.settleKept(ctx); err != nil {
		return err
	}
	slog.Debug("claimed", "elapsed", time.Since(s.t0).Round(time.Millisecond))
	if err := s.alone(ctx); err != nil {
		return err
	}
	slog.Debug("alone", "elapsed", time.Since(s.t0).Round(time.Millisecond))
	if err := s.outsideState(); err != nil {
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

// teardown runs on every way out, an interrupt too: what the launch made
// goes through a context of its own, which the interrupt did not end.
func (s *launching) teardown(ctx context.Context) {
	if s.warmPod && !s.td.created {
		// A claimed warm bottle's pod is there before the launch makes one:
		// it goes. The launch ended before making the rest, so --keep keeps
		// nothing, as for a cold start that ended as early.
		s.td.created, s.td.keep = true, false
	}
	s.td.run(context.WithoutCancel(ctx))
	slog.Debug("torn down", "elapsed", time.Since(s.t0).Round(time.Millisecond))
}
