package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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
func workspaceRecord(b *state.Bottle, workdir, mode string) (*workspace.Record, error) {
	data, err := b.Record(state.WorkspaceFile)
	if err == nil {
		return workspace.Unmarshal(data)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	r, err := workspace.Survey(workdir, mode == config.WorkspaceBind)
	if err != nil {
		return nil, err
	}
	if data, err = r.Marshal(); err != nil {
		return nil, err
	}
	return r, b.WriteRecord(state.WorkspaceFile, data)
}

// Settle runs once a bind bottle's agent is stopped: the agent's new
// branches come into the repository as bottle/IDENTITY/BRANCH (its git wrote
// only to its own git folder), and git metadata it made in the workspace is
// moved into the bottle's folder, so no git or editor of the person's ever
// runs it; then the bottle is kept, so nothing of it is lost. It says what it
// did on w.
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
	if gitDir := agent.AgentGitDir(b.AgentDir(), false); r.Git != workspace.GitNone && exists(gitDir) {
		lines, err := gitgate.FetchBranches(gitDir, r, "bottle/"+b.ID+"/", true)
		for _, l := range lines {
			fmt.Fprintf(w, "bottle: the agent's branch %s\n", strings.TrimPrefix(l, "workspace "))
		}
		errs = append(errs, err)
	}
	moved, err := workspace.Quarantine(r, b.QuarantineDir())
	errs = append(errs, err)
	for _, mv := range moved {
		fmt.Fprintf(w, "bottle: moved %s, git metadata the agent made, out of the workspace (so no git or editor runs it) to %s\n", termtext.Clean(mv.Path, false), mv.To)
	}
	if len(moved) > 0 && !b.Preserved() {
		errs = append(errs, b.Preserve("quarantined git metadata"))
	}
	return errors.Join(errs...)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
