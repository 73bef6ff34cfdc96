package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/internal/workspace"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/state"
)

// workspaceRecord is what the bottle's first start found of its working
// directory: read from the bottle's folder when it has one (resume), else
// surveyed now and kept there, so nothing written into the working directory
// later (by the agent, or the repository) changes what the host trusts.
func workspaceRecord(b *state.Bottle, workdir, mode string, repos []string) (*workspace.Record, error) {
	if r, err := readRecord(b); !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	r, err := workspace.Survey(workdir, mode == config.WorkspaceBind, repos)
	if err != nil {
		return nil, err
	}
	return r, writeRecord(b, r)
}

// readRecord is the workspace record of the bottle's first start
// (fs.ErrNotExist before it, or for a bottle of an earlier version).
func readRecord(b *state.Bottle) (*workspace.Record, error) {
	data, err := b.Record(state.WorkspaceFile)
	if err != nil {
		return nil, err
	}
	return workspace.Unmarshal(data)
}

func writeRecord(b *state.Bottle, r *workspace.Record) error {
	data, err := r.Marshal()
	if err != nil {
		return err
	}
	return b.WriteRecord(state.WorkspaceFile, data)
}

// reviewWorkspace holds back the resume of a bind bottle whose recorded
// git metadata changed since its first start (gone, replaced, or reached
// through a link: mounting it again could mount what the agent chose),
// until the person has seen what changed; then what is there now is
// recorded (a link never is) and the resume goes ahead.
func reviewWorkspace(b *state.Bottle, r *workspace.Record, reviewed bool) error {
	changes, err := r.Check()
	if err != nil {
		return err
	}
	var lines []string
	if data, err := b.Record(state.WorkspaceChangesFile); err == nil {
		lines = strings.Split(strings.TrimSpace(string(data)), "\n")
	}
	for _, c := range changes {
		if l := termtext.Clean(c.String(), false); !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	if !reviewed {
		if err := b.WriteRecord(state.WorkspaceChangesFile, []byte(strings.Join(lines, "\n")+"\n")); err != nil {
			return err
		}
		return fmt.Errorf("bottle %s: git metadata in its workspace %s changed since the bottle's first start (%s); what the agent made was moved to %s: look at it, then carry on with: bottle resume --reviewed %s", b.ID, r.Dir, strings.Join(lines, "; "), b.QuarantineDir(), b.ID)
	}
	if err := r.Accept(changes); err != nil {
		return fmt.Errorf("bottle %s: %w", b.ID, err)
	}
	if err := writeRecord(b, r); err != nil {
		return err
	}
	return b.RemoveRecord(state.WorkspaceChangesFile)
}

// Settle runs once a bind bottle's agent is stopped: the agent's new
// branches come into the repository as bottle/IDENTITY/BRANCH (its git wrote
// only to its own git folder), and git metadata it made in the workspace, or
// put where recorded metadata was, is moved into the bottle's folder, so no
// git or editor of the person's ever runs it; then the bottle is kept, so
// nothing of it is lost, and a changed recorded entry holds back the next
// resume until the person has seen it. It says what it did on w.
func Settle(ctx context.Context, b *state.Bottle, w io.Writer) error {
	if b == nil {
		return nil
	}
	m, err := b.Metadata()
	if err != nil || m.Workspace != config.WorkspaceBind {
		return nil
	}
	data, err := b.Record(state.WorkspaceFile)
	if err != nil {
		return nil // a bottle of an earlier version: nothing recorded to settle against
	}
	r, err := workspace.Unmarshal(data)
	if err != nil {
		return err
	}
	var errs []error
	// The quarantine first: nothing the agent wrote is read before what it
	// planted is out of the person's way.
	moved, changed, err := workspace.Quarantine(r, b.Quarantine())
	errs = append(errs, err)
	for _, mv := range moved {
		fmt.Fprintf(w, "bottle: moved %s, git metadata the agent made, out of the workspace (so no git or editor runs it) to %s\n", termtext.Clean(mv.Path, false), termtext.Clean(mv.To, false))
	}
	for _, c := range changed {
		fmt.Fprintf(w, "bottle: %s: bottle resume %s asks you to look first\n", termtext.Clean(c.String(), false), b.ID)
	}
	if len(changed) > 0 {
		var lines []string
		for _, c := range changed {
			lines = append(lines, termtext.Clean(c.String(), false))
		}
		errs = append(errs, b.WriteRecord(state.WorkspaceChangesFile, []byte(strings.Join(lines, "\n")+"\n")))
	}
	if (len(moved) > 0 || len(changed) > 0) && !b.Preserved() {
		errs = append(errs, b.Preserve("quarantined git metadata"))
	}
	agentGit := agent.GitFolder(b.AgentDir())
	if _, err := agentGit.Lstat("."); r.Git != workspace.GitNone && err == nil {
		// The agent's git folder is read apart: a crafted one fails this, not bottle.
		lines, err := gitgate.FetchBranchesApart(context.WithoutCancel(ctx), agentGit, r, "bottle/"+b.ID+"/", true)
		for _, l := range lines {
			fmt.Fprintf(w, "bottle: the agent's branch %s\n", strings.TrimPrefix(l, "workspace "))
		}
		if err != nil {
			termtext.Fprintf(w, "bottle: the agent's branches of %s did not come back: %v\n", b.ID, err)
		}
	}
	return errors.Join(errs...)
}

// removeKeepingQuarantine removes a bottle's folder, but what its settles
// quarantined (git metadata taken out of the workspace, which may be the
// person's own: a repository they made meanwhile) goes first to the state
// root's quarantine folder, and the person is told where.
func removeKeepingQuarantine(root state.Root, b *state.Bottle, w io.Writer) error {
	if entries, err := os.ReadDir(b.QuarantineDir()); err == nil && len(entries) > 0 {
		to, err := root.KeepQuarantine(b)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "bottle: kept what %s quarantined (git metadata moved out of its workspace) in %s\n", b.ID, to)
	}
	return b.Remove()
}

// settleToRemove settles a bottle about to be removed; a working directory
// that is no longer the bottle's own has nothing of it to settle, and the
// removal goes on, said.
func settleToRemove(ctx context.Context, b *state.Bottle, w io.Writer) error {
	err := Settle(ctx, b, w)
	var moved *workspace.MovedError
	if errors.As(err, &moved) {
		termtext.Fprintf(w, "bottle: %v; removing %s all the same\n", moved, b.ID)
		return nil
	}
	return err
}

// outsideState refuses a working directory that holds the state root, or
// lies in it: bound, the agent could rewrite what bottle trusts of every
// bottle there (the routes a person approved, the records, other bottles'
// secrets); copied, they would go into the bottle with the copy.
func (s *launching) outsideState() error {
	if overlap(s.env.Root.Dir, s.Workdir) {
		return fmt.Errorf("the working directory %s and bottle's state folder %s are one in the other: the agent would reach what bottle keeps of every bottle; start it in another folder, or keep the state elsewhere (XDG_STATE_HOME)", s.Workdir, s.env.Root.Dir)
	}
	return nil
}

// alone refuses a bind start while another bottle of the root runs (its
// agent, or a bottle command) in, over or under the same working
// directory: that agent could swap what this start checks before it is
// mounted, and make this bottle's settle walk elsewhere. Copy workspaces
// mount no working directory. Found alone, the start records its working
// directory (BindFile) before it lets go of the binds lock: a start beside
// it that has not written its metadata yet is seen all the same.
func (s *launching) alone(ctx context.Context) error {
	if s.Agent.Workspace != config.WorkspaceBind {
		return nil
	}
	lock, err := s.env.Root.LockBinds()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	// The starts not described yet first: a folder only ever goes from
	// these to the listed ones, so none is missed between the two looks.
	unfinished, err := s.env.Root.Unfinished()
	if err != nil {
		return err
	}
	for _, b := range unfinished {
		if wd, ok := bound(b); ok && b.ID != s.b.ID && overlap(wd, s.Workdir) && b.InUse() {
			return s.notAlone(b.ID, wd)
		}
	}
	// Only a bottle whose working directory overlaps this one can stop
	// the start, and the state says which do: the engine is asked about
	// them only when there is one. Its listing, made under this lock, had
	// twenty starts at once wait on each other for 20 s. A bottle whose
	// session is ending (its teardown handed off, which only a session
	// whose agent ended does) has no agent any more, only its sidecars,
	// which mount no workspace: the last bottle started in this folder,
	// whose pod is being removed, had the next start wait 0.4 to 0.7 s
	// for a listing Podman answers only once that removal is done. A
	// resume of it finishes its teardown before its own look, under this
	// lock: that resume sees this start.
	described, err := s.env.Root.List()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(described, func(b *state.Bottle) bool {
		wd, ok := bound(b)
		return ok && b.ID != s.b.ID && overlap(wd, s.Workdir) && !pendingTeardown(b)
	}) {
		return s.b.WriteRecord(state.BindFile, []byte(s.Workdir))
	}
	rows, err := List(ctx, s.env)
	if err != nil {
		return err
	}
	for _, r := range rows {
		b := r.Bottle()
		if r.Identity == s.b.ID || b == nil {
			continue
		}
		wd, ok := bound(b)
		if !ok || !overlap(wd, s.Workdir) || pendingTeardown(b) {
			continue
		}
		if r.Pod != "" && !r.AgentDone || b.InUse() {
			return s.notAlone(r.Identity, wd)
		}
	}
	return s.b.WriteRecord(state.BindFile, []byte(s.Workdir))
}

// bound is the working directory bottle b mounts, when it is a bind
// workspace's: as its start recorded it, or its metadata says.
func bound(b *state.Bottle) (string, bool) {
	if data, err := b.Record(state.BindFile); err == nil && len(data) > 0 {
		return string(data), true
	}
	m, err := b.Metadata()
	if err != nil || m.Workspace != config.WorkspaceBind {
		return "", false
	}
	return m.Workdir, true
}

func (s *launching) notAlone(id, workdir string) error {
	return fmt.Errorf("%s and bottle %s's bind workspace %s overlap, and %s runs: an agent in one could swap what the other's start checks; stop %s first, or use workspace = \"copy\"", s.Workdir, id, workdir, id, id)
}

// overlap reports whether one folder is, or lies in, the other, named as
// given or as the folders they are (a working directory is the shell's
// path, which may reach it through a link of the person's).
func overlap(a, b string) bool {
	in := func(x, y string) bool {
		rel, err := filepath.Rel(y, x)
		return err == nil && filepath.IsLocal(rel)
	}
	real := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		return filepath.Clean(p)
	}
	a, b = filepath.Clean(a), filepath.Clean(b)
	ra, rb := real(a), real(b)
	return in(a, b) || in(b, a) || in(ra, rb) || in(rb, ra)
}
