package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/signin"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

func (s *launching) check(ctx context.Context) error {
	if s.Detach && s.info.Ephemeral != "" {
		return fmt.Errorf("%s, and a detached bottle needs one that outlives this command: %s", s.info.Ephemeral, s.info.Lasting)
	}
	if s.Agent.Runtime == config.RuntimeRunsc {
		return s.env.Engine.CheckRuntime(ctx, config.RuntimeRunsc)
	}
	return nil
}

// claim takes the bottle's folder: a warm bottle's that fits (claimWarm), a
// fresh identity's, or the kept one's.
func (s *launching) claim() error {
	if s.claimWarm() {
		return nil
	}
	b := s.Resume
	var lock *state.Lock
	var err error
	if b == nil {
		// Made locked: gc never finds it unheld.
		b, lock, err = s.env.Root.Create(s.Agent.Name)
	} else {
		lock, err = b.Lock()
	}
	if err != nil {
		return err
	}
	s.b = b
	s.td = s.newTeardown(b, lock)
	return nil
}

// newTeardown is the teardown of the launch's bottle b, whose lock it holds.
func (s *launching) newTeardown(b *state.Bottle, lock *state.Lock) *teardown {
	td := &teardown{engine: s.env.Engine, root: s.env.Root, bottle: b, stderr: s.env.Stderr, keep: s.Keep, lock: lock}
	if s.info.Ephemeral == "" {
		// An engine that ends with this command cannot be reached by a
		// process that outlives it: its teardown is all done here.
		td.handOff = s.env.HandOff
	}
	return td
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
	if s.Resume != nil {
		// The routes a person approved belong to the bottle: they come back.
		if s.approved, err = ApprovedRoutes(b); err != nil {
			return err
		}
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
		Approved:  routesOf(s.approved),
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
	if s.in.SidecarImage, err = spec.SidecarRef(s.env.sidecarExe()); err != nil {
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
	if _, _, err := agent.User(s.Agent, s.in.Host, s.Workdir); err != nil && s.unplannable("user", err) {
		// The rest of the plan as it would be, under the user a copy gets.
		s.in.Host.OwnerUID, s.in.Host.OwnerGID = agent.DefaultUID, agent.DefaultUID
	}
	if s.plan, err = sidecars.Build(s.in); err != nil {
		return err
	}
	if err := s.checkWarm(ctx); err != nil {
		return err
	}
	if slog.Default().Enabled(ctx, slog.LevelDebug) {
		data, _ := json.Marshal(s.plan)
		slog.Debug("planned", "identity", b.ID, "warm", s.warm != nil, "plan", string(data))
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
	p := Preflight{ID: s.b.ID, Engine: s.info, Agent: s.Agent, Plan: s.plan, Workdir: s.Workdir, Gate: s.in.Gate, Signin: s.signin, Build: s.build, Approved: s.approved}
	if s.DryRun {
		if s.Resume == nil {
			p.Passing = s.b.Dir // a fresh identity's: the dry run removes it
		}
		if s.asks {
			var err error
			if p.Image, err = s.imageWork(ctx); err != nil {
				return err
			}
		}
		p.Missing = s.missing
		if err := s.ShowPreflight(s.env.Stdout, p); err != nil {
			return err
		}
		if len(p.Missing) > 0 {
			return &IncompleteError{Missing: p.Missing}
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
	prepareEgress := egress.Prepare
	if s.warm != nil {
		prepareEgress = egress.PrepareClaimed // its gateway and proxy run already
	}
	injected, err := prepareEgress(ctx, b.ID, b.EgressDir(), b.GatewayDir(), b.AgentDir(), s.Agent.EgressRoutes(), in.Approved, s.Agent.BuildEgress, gitDests, gitNamed)
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
	if err := supervise.Prepare(b.SuperviseDir(), s.Agent, in.Image.Ref, containerfile); err != nil {
		return err
	}
	if s.warm != nil && s.info.CopyOnly {
		// The proxy reads a copy of the folder, which the engine brings in
		// and releases it there (its Up): here the folder is made a cold
		// start's.
		return egress.Unhold(b.EgressDir())
	}
	if s.warm != nil {
		// Everything the held-back proxy loads is written: it goes on.
		return egress.Release(b.EgressDir(), s.proxyReady(), warmReadyTimeout)
	}
	return nil
}

// images makes the sidecar image and the agent's, and creates the
// bottle. An isolated build that may reach hosts (build_egress) builds
// through the bottle's own egress, serving the build's routes for as long
// as it runs; the engine may bring that part of the bottle up for it, so
// the teardown removes the bottle from then on.
func (s *launching) images(ctx context.Context) error {
	e, b := s.env.Engine, s.b
	if !s.info.CopyOnly {
		if err := recordMounts(s.plan, s.in.Workspace, b.Dir); err != nil {
			return err
		}
	}
	var err error
	if s.plan.Main().Image.Through != nil {
		s.td.created = true
		restore, rerr := egress.BuildRoutes(b.EgressDir(), b.GatewayDir())
		if rerr != nil {
			return rerr
		}
		s.meta.ImageDigest, err = e.Images(ctx, s.plan, s.env.sidecarExe(), s.env.Stderr)
		err = errors.Join(err, restore())
	} else {
		s.meta.ImageDigest, err = e.Images(ctx, s.plan, s.env.sidecarExe(), s.env.Stderr)
	}
	if err != nil {
		return err
	}
	s.td.created = true
	if err := e.Create(ctx, s.plan); err != nil {
		return s.misfit(ctx, err)
	}
	return b.WriteMetadata(s.meta)
}

// attach starts the bottle: attached to the streams, it returns the
// agent's exit; detached, it leaves it running and prints the identity.
func (s *launching) attach(ctx context.Context) error {
	streams := spec.Streams{Stdin: s.env.Stdin, Stdout: s.env.Stdout, Stderr: s.env.Stderr, TTY: s.env.TTY}
	if s.Detach {
		if _, err := s.env.Engine.Up(ctx, s.plan, streams, true); err != nil {
			return s.misfit(ctx, err)
		}
		s.td.detached = true
		if s.ShowDetached != nil {
			return s.ShowDetached(s.env.Stdout, s.b.ID)
		}
		fmt.Fprintln(s.env.Stdout, s.b.ID)
		return nil
	}
	code, err := s.env.Engine.Up(ctx, s.plan, streams, false)
	if err != nil {
		return s.misfit(ctx, err)
	}
	s.td.exited = true
	slog.Debug("agent exited", "identity", s.b.ID, "code", code)
	if code != 0 {
		return ExitError(code)
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
