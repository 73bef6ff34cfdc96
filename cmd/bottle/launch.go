package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/inside"
	"github.com/bottle-sandbox/bottle/pod"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/agent"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// launch is one run of a bottle, fresh (start) or under a kept identity (resume).
type launch struct {
	g       *globals
	agent   *config.Agent
	workdir string
	args    []string // nil: the profile's own
	yes     bool
	dryRun  bool
	keep    bool
	detach  bool
	// resume is the kept bottle to relaunch; nil for a fresh start.
	resume *state.Bottle
	meta   state.Metadata
	// workdirConfig is the working directory's bottle.toml this launch
	// applies (nil: none), recorded for later resumes.
	workdirConfig []byte
	// isolatedBuild: the Containerfile is an agent's (an approved request).
	isolatedBuild bool
}

// run prepares, confirms, creates and runs the bottle, and tears it down on
// every way out: success, agent failure, a declined preflight, --dry-run, an
// error while preparing, and an interrupt.
func (l *launch) run(ctx context.Context) (err error) {
	t0 := time.Now()
	step := func(what string) { slog.Debug(what, "elapsed", time.Since(t0).Round(time.Millisecond)) }
	defer step("done")
	conn, err := pod.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if l.detach && conn.Private() {
		return errors.New("no Podman service is running, and a detached bottle needs one that outlives this command: start one (systemctl --user enable --now podman.socket, or podman system service --time=0 &)")
	}
	if l.agent.Runtime == config.RuntimeRunsc {
		if err := pod.CheckRuntime("runsc"); err != nil {
			return err
		}
	}
	root, err := state.DefaultRoot()
	if err != nil {
		return err
	}

	b := l.resume
	if b == nil {
		if b, err = root.Create(l.agent.Name); err != nil {
			return err
		}
	}
	lock, err := b.Lock()
	if err != nil {
		if l.resume == nil {
			b.Remove() // ours, just made: leave nothing half-made
		}
		return err
	}
	podName := sidecars.PodName(b.ID)
	td := &teardown{conn: conn, bottle: b, pod: podName, stderr: l.g.stderr, keep: l.keep}
	defer func() {
		td.run(ctx)
		step("torn down")
		lock.Unlock()
	}()

	in := sidecars.Input{
		Identity:  b.ID,
		Agent:     l.agent,
		Workdir:   l.workdir,
		StateRoot: root.Dir,
		Args:      l.args,
		Resume:    l.resume != nil,
		Version:   version,
		Host:      hostOf(conn, l.workdir),
	}
	if in.ImageRef, in.IsolatedBuild, err = imageRef(l.agent, b, l.workdir); err != nil {
		return err
	}
	in.IsolatedBuild = in.IsolatedBuild || l.isolatedBuild
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the bottle binary for the sidecar image: %w", err)
	}
	if in.SidecarImage, err = pod.SidecarRef(exe); err != nil {
		return err
	}
	if err := recordWorkdirConfig(b, filepath.Join(l.workdir, "bottle.toml"), l.workdirConfig); err != nil {
		return err
	}
	if in.Workspace, err = workspaceRecord(b, l.workdir, l.agent.Workspace); err != nil {
		return err
	}
	if in.Gate, err = gitgate.NewPlan(ctx, b.ID, in.Workspace, l.agent.Git); err != nil {
		return err
	}
	plan, err := sidecars.Build(in)
	if err != nil {
		return err
	}
	l.meta = state.Metadata{
		Identity: b.ID, Agent: l.agent.Name, Workdir: l.workdir, Workspace: l.agent.Workspace,
		Runtime: l.agent.Runtime, Image: in.ImageRef, Version: version, StartedAt: time.Now().UTC(), Args: l.args,
		AutoResume: l.agent.AutoResume,
	}
	if l.resume != nil {
		if old, err := l.resume.Metadata(); err == nil {
			l.meta.StartedAt = old.StartedAt
		}
	}
	if err := b.WriteMetadata(l.meta); err != nil {
		return err
	}

	if l.dryRun {
		printPreflight(l.g.stdout, b.ID, conn, l.agent, plan, l.workdir, in.Gate)
		return nil
	}
	printPreflight(l.g.stderr, b.ID, conn, l.agent, plan, l.workdir, in.Gate)
	if !l.yes {
		if err := confirm(ctx, l.g.stdin, l.g.stderr); err != nil {
			return err
		}
	}

	step("planned")
	if err := agent.Prepare(ctx, sidecars.AgentInput(in), l.resume == nil); err != nil {
		return err
	}
	var gitDests []string
	if in.Gate != nil {
		gitDests = in.Gate.Destinations
	}
	injected, err := egress.Prepare(ctx, b.ID, b.EgressDir(), b.GatewayDir(), b.AgentDir(), l.agent.Egress, l.agent.BuildEgress, gitDests)
	if err != nil {
		return err
	}
	if in.Gate != nil {
		// The gate refuses pushes carrying a secret the proxy injects.
		if err := in.Gate.Write(b.GitGateDir(), injected); err != nil {
			return err
		}
	}
	var containerfile []byte
	if l.agent.Containerfile != "" {
		if containerfile, err = os.ReadFile(l.agent.Containerfile); err != nil {
			return fmt.Errorf("read %s: %w", l.agent.Containerfile, err)
		}
	}
	if err := supervise.Prepare(b.SuperviseDir(), l.agent, in.ImageRef, containerfile); err != nil {
		return err
	}
	step("prepared")
	if _, err := conn.EnsureSidecarImage(ctx, exe); err != nil {
		return err
	}
	step("sidecar image")
	if l.resume != nil {
		if err := conn.RemoveBottle(ctx, podName, b.ID); err != nil { // a stale pod of this identity
			return err
		}
		// A detached session ended with no launcher to settle it.
		if err := settleWorkspace(b, l.g.stderr); err != nil {
			return err
		}
	}
	main := plan.Main()
	startSidecars := func() error { return conn.StartSidecars(ctx, plan) }
	staged := false
	if main.Image.Isolated && len(l.agent.BuildEgress) > 0 {
		exists, err := conn.ImageExists(ctx, main.Image.Ref)
		if err != nil {
			return err
		}
		staged = !exists
	}
	if staged {
		// The build reaches the user's build_egress through the bottle's own
		// egress: the pod's proxy and gateway come first, the rest after.
		td.created = true
		var rest *spec.Plan
		if l.meta.ImageDigest, rest, err = buildThroughEgress(ctx, conn, plan, in, l.g.stderr); err != nil {
			return err
		}
		startSidecars = func() error { return conn.StartSidecars(ctx, rest) }
	} else {
		if l.meta.ImageDigest, err = conn.EnsureImage(ctx, main.Image, l.g.stderr); err != nil {
			return err
		}
		step("agent image")
		td.created = true
		if err := conn.Create(ctx, plan); err != nil {
			return err
		}
	}
	if err := b.WriteMetadata(l.meta); err != nil {
		return err
	}
	step("created")
	if l.detach {
		if err := startSidecars(); err != nil {
			return err
		}
		if err := conn.StartContainer(ctx, main.Name); err != nil {
			return err
		}
		td.detached = true
		fmt.Fprintln(l.g.stdout, b.ID)
		return nil
	}
	step("created, starting sidecars and agent")
	code, err := conn.Run(ctx, main.Name, l.g.stdin, l.g.stdout, l.g.stderr, startSidecars)
	step("agent exited")
	if err != nil {
		return err
	}
	slog.Debug("agent exited", "identity", b.ID, "code", code)
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

// hostOf describes the caller and the working directory's owner for the plan.
func hostOf(conn *pod.Conn, workdir string) agent.Host {
	h := agent.Host{Rootless: conn.Rootless, UID: conn.UID, GID: conn.GID}
	if fi, err := os.Stat(workdir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			h.OwnerUID, h.OwnerGID = int(st.Uid), int(st.Gid)
		}
	}
	return h
}

// imageRef is the agent's image: the profile's reference, or for a
// Containerfile the tag its content hashes to. An embedded Containerfile is
// first written into the bottle's state, to serve as its build context. A
// Containerfile or context a working directory's bottle.toml named is copied
// into the bottle's state through the working directory (so no link leads
// out) and built isolated (isolated is true): no network, local images only.
func imageRef(a *config.Agent, b *state.Bottle, workdir string) (ref string, isolated bool, err error) {
	if a.Containerfile == "" {
		return a.Image, false, nil
	}
	if name, ok := cutEmbedded(a.Containerfile); ok {
		data, err := config.EmbeddedFile(a.Containerfile)
		if err != nil {
			return "", false, err
		}
		dir := agent.BuiltinBuildDir(b.AgentDir())
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", false, fmt.Errorf("write built-in Containerfile: %w", err)
		}
		a.Containerfile, a.Context = filepath.Join(dir, name), dir
		if err := os.WriteFile(a.Containerfile, data, 0o644); err != nil {
			return "", false, fmt.Errorf("write built-in Containerfile: %w", err)
		}
	} else if slices.Contains(a.FromWorkdir, "containerfile") || slices.Contains(a.FromWorkdir, "context") {
		if err := copyWorkdirBuild(a, b, workdir); err != nil {
			return "", false, err
		}
		isolated = true
	}
	ref, err = pod.BuildRef(a.Name, a.Containerfile, a.Context)
	return ref, isolated, err
}

// copyWorkdirBuild copies a working directory's Containerfile and build
// context into the bottle's state, and points the profile at the copies.
func copyWorkdirBuild(a *config.Agent, b *state.Bottle, workdir string) error {
	dir := agent.WorkdirBuildDir(b.AgentDir())
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cf, err := inside.ReadFile(workdir, a.Containerfile)
	if err != nil {
		return fmt.Errorf("read the working directory's Containerfile: %w", err)
	}
	ctx := filepath.Join(dir, "context")
	if err := inside.CopyTree(workdir, a.Context, ctx); err != nil {
		return fmt.Errorf("copy the working directory's build context %s: %w", a.Context, err)
	}
	a.Containerfile, a.Context = filepath.Join(dir, "Containerfile"), ctx
	return os.WriteFile(a.Containerfile, cf, 0o644)
}

func cutEmbedded(path string) (string, bool) { return strings.CutPrefix(path, config.Embedded) }

// teardown removes what a launch made, and its state unless it is kept.
type teardown struct {
	conn     *pod.Conn
	bottle   *state.Bottle
	pod      string
	stderr   io.Writer
	keep     bool
	created  bool // a pod may exist
	detached bool // the bottle runs on: leave it
}

func (t *teardown) run(ctx context.Context) {
	if t.detached {
		return
	}
	if t.created {
		if err := t.conn.RemoveBottle(ctx, t.pod, t.bottle.ID); err != nil {
			fmt.Fprintf(t.stderr, "bottle: %v\n", err)
		} else if err := settleWorkspace(t.bottle, t.stderr); err != nil {
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
