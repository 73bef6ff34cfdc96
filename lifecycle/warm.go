package lifecycle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/signin"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// Warmer makes a warm bottle ahead of its claim (the Podman engine,
// through the router): the sidecar image of the sidecar binary exe, the
// pod, and the plan's gateway and proxy, started and ready; the plan's
// agent too, started and waiting for its go-ahead, where the engine can
// bring the workspace in only then (it says whether it made it).
type Warmer interface {
	Warm(ctx context.Context, p *spec.Plan, exe string) (ahead bool, err error)
	// Refit keeps the agent made ahead (made's) for a claim whose plan is
	// want when it fits, and otherwise removes it (Create makes want's); an
	// engine that cannot (a pod gains no container once made) says
	// spec.ErrMisfit, and the claim starts cold.
	Refit(ctx context.Context, made, want *spec.Plan) error
}

// StatusWarm is a warm bottle's status in bottle ls: made ahead, its
// egress running, waiting for bottle start to claim it.
const StatusWarm = "warm"

// warmRecord is what a warm bottle's folder says of it (state.WarmFile).
type warmRecord struct {
	Profile string `json:"profile"`
	// Key is what the bottle was made of (pool key): a claim needs the
	// same, and a pool whose key is no longer the profile's is recycled.
	Key string `json:"key"`
	// Ready: its egress runs; until then, its maker holds its lock.
	Ready bool `json:"ready"`
	// Plan is its egress as made: a claim's plan must have the same.
	Plan *spec.Plan `json:"plan"`
	// Agent is its agent's container, made ahead (nil: none).
	Agent *spec.Container `json:"agent,omitempty"`
}

// readWarm is b's warm record; false for a bottle that is not warm.
func readWarm(b *state.Bottle) (warmRecord, bool) {
	var r warmRecord
	data, err := b.Record(state.WarmFile)
	if err != nil || json.Unmarshal(data, &r) != nil {
		return r, false
	}
	return r, true
}

func writeWarm(b *state.Bottle, r warmRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.WriteRecord(state.WarmFile, data)
}

// poolKey is what a warm bottle of the person's profile a is made of on
// the engine info describes (a cluster's context and namespace too), with this bottle binary (its sidecar image
// sidecarRef) and version, and the credentials file its sign-in reads
// (signinFile, "" for none): two bottles of one key have the same egress.
// The number of warm bottles is left out: changing it keeps the pool.
func poolKey(a *config.Agent, info spec.EngineInfo, version, sidecarRef, signinFile string) (string, error) {
	p := *a
	p.Warm = 0
	data, err := json.Marshal(struct {
		Profile            *config.Agent
		Engine, Version    string
		Context, Namespace string // a cluster's: a warm pod serves starts aimed at its own
		Rootless           bool
		UID, GID           int
		Sidecar            string
		Signin             string
	}{&p, info.Name, version, info.Context, info.Namespace, info.Rootless, info.UID, info.GID, sidecarRef, signinFileID(signinFile)})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// signinFileID names the host's credentials file a sign-in reads, as
// the file it is now (its device and inode): a warm gateway mounts that
// file, and keeps the one it mounted when the person's CLI replaces it by
// a rename (a sign-in again, its own refresh), so a pool made before then
// no longer fits. "" when the sign-in reads no file.
func signinFileID(file string) string {
	if file == "" {
		return ""
	}
	fi, err := os.Stat(file)
	if err != nil {
		return file
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%s %d:%d", file, st.Dev, st.Ino)
	}
	return file
}

// warmSpec is what a warm bottle of a person's profile is made of, found
// once for both its pool key and its making: the profile signed in, the
// credentials file its sign-in reads, the key.
type warmSpec struct {
	signed     *config.Agent
	signinFile string
	signErr    error // the sign-in's: no bottle is made, its key reads no file
	ref, key   string
}

// warmSpecOf applies a's sign-in once and makes its pool key.
func warmSpecOf(a *config.Agent, info spec.EngineInfo, version, ref string) (warmSpec, error) {
	w := warmSpec{ref: ref}
	w.signed, _, w.signinFile, w.signErr = signedIn(a)
	var err error
	w.key, err = poolKey(a, info, version, ref, w.signinFile)
	return w, err
}

// signedIn is a launch's sign-in applied to the person's profile a: the
// profile the bottle runs, and the host's credentials file the gateway
// keeps fresh ("": none).
func signedIn(a *config.Agent) (*config.Agent, *signin.Choice, string, error) {
	home, _ := os.UserHomeDir()
	signed, choice, err := signin.Apply(a, signin.Host{Getenv: os.Getenv, Home: home})
	if err != nil {
		return nil, nil, "", err
	}
	file := ""
	if choice != nil && choice.Use == signin.UseCredentials {
		file = choice.Credentials
	}
	return signed, choice, file, nil
}

// MakeWarm makes one warm bottle of the person's profile a (never a
// working directory's: config refuses warm there): a fresh identity's
// folder, its egress prepared with no routes and no secrets, a CA, its
// supervise folder, the proxy held back (egress.HoldForClaim), then its
// pod with the gateway and the proxy started through the engine. No
// agent, workspace, git gate or route is there until a start claims it.
// It returns the identity.
func MakeWarm(ctx context.Context, env Env, a *config.Agent) (string, error) {
	if env.Warmer == nil {
		return "", fmt.Errorf("profile %s: warm bottles are not made on this engine", a.Name)
	}
	ref, err := spec.SidecarRef(env.sidecarExe())
	if err != nil {
		return "", err
	}
	w, err := warmSpecOf(a, env.Engine.Info(), env.Version, ref)
	if err != nil {
		return "", err
	}
	return makeWarm(ctx, env, a, w)
}

// makeWarm is MakeWarm of what w says (KeepPools found it once).
func makeWarm(ctx context.Context, env Env, a *config.Agent, w warmSpec) (string, error) {
	if env.Warmer == nil {
		return "", fmt.Errorf("profile %s: warm bottles are not made on this engine", a.Name)
	}
	if w.signErr != nil {
		return "", w.signErr
	}
	info := env.Engine.Info()
	signed, signinFile, ref, key := w.signed, w.signinFile, w.ref, w.key
	if info.CopyOnly && signed.Workspace != config.WorkspaceCopy {
		// As a launch makes it: the engine cannot mount the host's folder.
		copied := *signed
		copied.Workspace = config.WorkspaceCopy
		signed = &copied
	}
	b, lock, err := env.Root.Create(a.Name) // made locked: gc never finds it unheld
	if err != nil {
		return "", err
	}
	defer lock.Unlock()
	in := sidecars.Input{Identity: b.ID, Agent: signed, StateRoot: env.Root.Dir, Version: env.Version,
		Host: agent.Host{Rootless: info.Rootless, UID: info.UID, GID: info.GID}, SidecarImage: ref, SigninFile: signinFile}
	rec := warmRecord{Profile: a.Name, Key: key, Plan: sidecars.Egress(in)}
	made := false
	defer func() {
		if !made {
			env.Engine.Remove(context.WithoutCancel(ctx), b.ID)
			b.Remove()
		}
	}()
	ahead, err := agentAhead(ctx, env, b, in)
	if err != nil {
		return "", err
	}
	if err := writeWarm(b, rec); err != nil {
		return "", err
	}
	meta := state.Metadata{Identity: b.ID, Agent: a.Name, Runtime: a.Runtime, Image: a.Image, Version: env.Version, StartedAt: time.Now().UTC(),
		Engine: info.Name, Context: info.Context, Namespace: info.Namespace}
	if err := b.WriteMetadata(meta); err != nil {
		return "", err
	}
	if _, err := egress.Prepare(ctx, b.ID, b.EgressDir(), b.GatewayDir(), b.AgentDir(), nil, nil, nil, nil, nil); err != nil {
		return "", err
	}
	if ahead != nil {
		// Its container mounts its home and the CA's copies: they are made.
		if err := agent.PrepareAhead(sidecars.AgentInput(ahead.in)); err != nil {
			return "", err
		}
	}
	if err := supervise.Prepare(b.SuperviseDir(), signed, a.Image, nil); err != nil {
		return "", err
	}
	if err := egress.HoldForClaim(b.EgressDir()); err != nil {
		return "", err
	}
	p := rec.Plan
	if ahead != nil {
		p = &spec.Plan{Pod: rec.Plan.Pod, Containers: append(slices.Clone(rec.Plan.Containers), ahead.ct)}
	}
	madeAhead, err := env.Warmer.Warm(ctx, p, env.sidecarExe())
	if err != nil {
		return "", err
	}
	if madeAhead {
		rec.Agent = &ahead.ct
	} else if err := beneath.At(b.Dir).RemoveAll("agent"); err != nil {
		// The agent's folder is the claim's to make, as a cold start makes
		// it; egress.Prepare put the CA's copies there, which the claim writes again.
		return "", err
	}
	rec.Ready = true
	if err := writeWarm(b, rec); err != nil {
		return "", err
	}
	made = true
	return b.ID, nil
}

// errNotWarm ends a launch that claimed a warm bottle whose egress is not
// the one its plan has (a claim found out only once planned): it starts
// again, cold.
var errNotWarm = errors.New("the warm bottle does not fit")

// mayClaim says whether this launch may take a warm bottle: a fresh start
// (not a resume or a dry run) of a profile that keeps warm bottles, as the
// person's config says it (no working directory's file changed it), with
// no isolated build that needs the bottle's egress before the rest.
func (s *launching) mayClaim() bool {
	return s.Resume == nil && !s.DryRun && !s.noWarm && s.env.Warmer != nil && s.person.Warm > 0 &&
		len(s.person.FromWorkdir) == 0 && len(s.person.BuildEgress) == 0 && !s.IsolatedBuild && s.Image == nil
}

// claimWarm takes a warm bottle of the launch's profile, made of what this
// launch's would be (the pool key), when there is one: its lock taken and
// its warm record removed before anything of the launch is written into it,
// so no other start can claim it, and a claim that dies leaves a bottle gc
// removes, never one that goes back to the pool. It reports whether it took one.
func (s *launching) claimWarm() bool {
	if !s.mayClaim() {
		return false
	}
	ref, err := spec.SidecarRef(s.env.sidecarExe())
	if err != nil {
		return false
	}
	file := "" // the credentials file the launch's sign-in (applied once, in run) reads
	if s.signin != nil && s.signin.Use == signin.UseCredentials {
		file = s.signin.Credentials
	}
	key, err := poolKey(s.person, s.info, s.env.Version, ref, file)
	if err != nil {
		return false
	}
	bottles, err := s.env.Root.List()
	if err != nil {
		return false
	}
	for _, b := range bottles {
		if r, ok := readWarm(b); !ok || !r.Ready || r.Profile != s.person.Name || r.Key != key {
			continue
		}
		lock, err := b.Lock()
		if err != nil {
			continue // being claimed, or still being made
		}
		r, ok := readWarm(b)
		if !ok || !r.Ready || r.Key != key || b.RemoveRecord(state.WarmFile) != nil {
			lock.Unlock()
			continue
		}
		s.b, s.warm, s.warmPod = b, &r, true
		s.td = s.newTeardown(b, lock)
		return true
	}
	return false
}

// checkWarm compares a claimed bottle's egress, as made, with the one this
// launch's plan has: a claimed bottle is the bottle a cold start makes. One
// that differs is removed, and the launch starts again cold. An agent made
// ahead that does not fit the plan's is removed, and made with the rest.
func (s *launching) checkWarm(ctx context.Context) error {
	if s.warm == nil {
		return nil
	}
	made, err := json.Marshal(s.warm.Plan)
	if err != nil {
		return err
	}
	want, err := json.Marshal(sidecars.Egress(s.in))
	if err != nil {
		return err
	}
	if string(made) == string(want) {
		if s.warm.Agent == nil {
			return nil
		}
		// Its agent, made ahead, stays if it fits this claim's.
		p := &spec.Plan{Pod: s.warm.Plan.Pod, Containers: append(slices.Clone(s.warm.Plan.Containers), *s.warm.Agent)}
		return s.misfit(ctx, s.env.Warmer.Refit(ctx, p, s.plan))
	}
	return s.misfit(ctx, spec.ErrMisfit)
}

// misfit ends a claim whose warm bottle the engine says does not fit
// (spec.ErrMisfit) before its agent has run: the bottle is removed, and the
// launch starts again, cold. Any other err is returned as it is.
func (s *launching) misfit(ctx context.Context, err error) error {
	if s.warm == nil || !errors.Is(err, spec.ErrMisfit) {
		return err
	}
	slog.Debug("the warm bottle does not fit: starting cold", "identity", s.b.ID, "why", err)
	if err := s.env.Engine.Remove(context.WithoutCancel(ctx), s.b.ID); err != nil {
		return err
	}
	s.warmPod, s.td.created = false, false
	return errNotWarm
}

// refill has the pools filled again in the background, when the launch's
// profile keeps one: by a keeper that waits for this bottle's agent to run
// (or the launch to be over) first, so that the start it refills for does
// not share the machine with it.
func (s *launching) refill() {
	if s.env.Refill != nil && s.env.Warmer != nil && s.person.Warm > 0 && !s.DryRun && s.Resume == nil {
		s.env.Refill(s.b.ID)
	}
}

// warmReadyTimeout bounds the wait for a claimed bottle's proxy to serve.
const warmReadyTimeout = 90 * time.Second

// proxyReady are the ready files of the plan's egress proxy (which serves
// the supervise server too).
func (s *launching) proxyReady() []string {
	for _, c := range s.plan.Containers {
		if c.Service == sidecars.ContainerOf(supervise.Service) {
			return c.Ready
		}
	}
	return nil
}

// ahead is a warm bottle's agent as made ahead: its plan's input and its
// container.
type ahead struct {
	in sidecars.Input
	ct spec.Container
}

// agentAhead plans a warm bottle's agent, to be made ahead of its claim,
// for a start from the keeper's working directory (the start's that ran
// it: the folder's owner is the agent's user), on a terminal when env's
// streams say the start had one, with the profile's own arguments (the
// claim's come with its go-ahead); nil when there is nothing to make ahead:
// a profile with a prompt (its file is the claim's to write) or whose user
// this folder cannot give.
func agentAhead(ctx context.Context, env Env, b *state.Bottle, in sidecars.Input) (*ahead, error) {
	a := in.Agent
	if a.Prompt != "" || a.PromptFile != "" {
		return nil, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, nil
	}
	// The folder gives the agent's user, nothing more: the workspace's
	// mount (its source left empty) is the claim's, and a warm bottle holds
	// no working directory's name.
	in.Host, in.TTY = hostOf(env.Engine.Info(), wd), env.TTY
	if _, _, err := agent.User(a, in.Host, ""); err != nil {
		return nil, nil
	}
	if in.Image, err = imageOf(a, b, "", beneath.At(wd)); err != nil || in.Image.Isolated {
		return nil, err
	}
	p, err := sidecars.Build(in)
	if err != nil {
		return nil, err
	}
	return &ahead{in: in, ct: *p.Main()}, nil
}
