package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	data, err := b.Record(state.WorkspaceFile)
	if err == nil {
		return workspace.Unmarshal(data)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	r, err := workspace.Survey(workdir, mode == config.WorkspaceBind, repos)
	if err != nil {
		return nil, err
	}
	return r, writeRecord(b, r)
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
func Settle(b *state.Bottle, w io.Writer) error {
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
	agentGit := agent.GitFolder(b.AgentDir())
	if _, err := agentGit.Lstat("."); r.Git != workspace.GitNone && err == nil {
		lines, err := gitgate.FetchBranches(agentGit, r, "bottle/"+b.ID+"/", true)
		for _, l := range lines {
			fmt.Fprintf(w, "bottle: the agent's branch %s\n", strings.TrimPrefix(l, "workspace "))
		}
		errs = append(errs, err)
	}
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
	return errors.Join(errs...)
}
