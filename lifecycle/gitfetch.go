package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/workspace"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// gitFolders are the folders of a bottle (below its own) that GitFetch
// reads: the git gate's, and the agent's repository of a copy workspace.
func gitFolders(b *state.Bottle, meta state.Metadata) []string {
	var out []string
	for _, d := range []string{b.GitGateDir(), agent.AgentGitDir(b.AgentDir(), meta.Workspace == config.WorkspaceCopy)} {
		if rel, err := filepath.Rel(b.Dir, d); err == nil && filepath.IsLocal(rel) {
			out = append(out, rel)
		}
	}
	return out
}

// GitFetch brings into the workspace's repository the branches the agent
// pushed through the bottle's gate (only those of one remote, if named) and,
// when no remote is named, its own branches as bottle/IDENTITY/BRANCH (from
// its git folder of a bind workspace, or the .git of its copy). A running
// bottle whose engine keeps its folder apart has those folders brought over
// the host's first. It returns a line per branch.
func GitFetch(ctx context.Context, env Env, id, only string) ([]string, error) {
	b, err := env.Root.Open(id)
	if err != nil {
		return nil, err
	}
	meta, err := b.Metadata()
	if err != nil {
		return nil, err
	}
	if err := env.Engine.Sync(ctx, id, spec.Exchange{Back: gitFolders(b, meta)}); err != nil {
		return nil, err
	}
	data, err := b.Record(state.WorkspaceFile)
	if err != nil {
		return nil, fmt.Errorf("bottle %s has no record of its workspace's repository (made by an earlier bottle version?): %w", id, err)
	}
	rec, err := workspace.Unmarshal(data)
	if err != nil {
		return nil, err
	}
	if rec.Git == workspace.GitNone {
		return nil, fmt.Errorf("bottle %s: its working directory %s was no git repository", id, meta.Workdir)
	}
	gate := b.GitGateFolder()
	hasGate := gitgate.Configured(gate)
	agentGit := agent.AgentGit(b.AgentDir(), meta.Workspace == config.WorkspaceCopy)
	_, err = agentGit.Lstat(".")
	hasAgentGit := err == nil
	if !hasGate && !hasAgentGit {
		return nil, fmt.Errorf("bottle %s has no git gate (its workspace had no remote) and no repository of the agent's", id)
	}
	if lock, err := b.Lock(); err == nil {
		defer lock.Unlock() // else it runs: the refs it sets are whole either way
	}
	// What the gate holds and the agent's own branches come back apart:
	// one that fails keeps the other's coming.
	var lines []string
	var errs []error
	if hasGate {
		pushed, err := gitgate.FetchPushedApart(ctx, gate, rec, only)
		lines, errs = append(lines, pushed...), append(errs, err)
	}
	if hasAgentGit && only == "" {
		more, err := gitgate.FetchBranchesApart(ctx, agentGit, rec, "bottle/"+id+"/", false)
		lines, errs = append(lines, more...), append(errs, err)
	}
	return lines, errors.Join(errs...)
}
