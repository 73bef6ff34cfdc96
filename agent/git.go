package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/workspace"
	"github.com/bottle-sandbox/bottle/spec"
)

// Files of the agent's state folder that hold its own git metadata, for a
// bind workspace that is a repository.
const (
	GitDir  = "git"     // the agent's git folder
	gitFile = "git-dir" // for a .git file: the .git file the agent sees
	// GitDirPath is where the agent's git folder is mounted when the
	// workspace's .git is a file: the file the agent sees names it.
	GitDirPath = "/run/bottle/git"
)

// GitMounts keep everything the agent writes away from the git metadata the
// host's git (and the person's editor) reads in a bind workspace:
//   - the repository's .git is covered by the agent's own git folder from
//     the bottle's state (a mount point, so it cannot be renamed away), which
//     borrows the host's objects read-only, mounted at their own paths: the
//     agent commits, branches and pushes, and `bottle git fetch` brings its
//     branches back; a .git file (a worktree) is covered by a read-only file
//     naming that folder;
//   - git metadata that was already below the top (nested repositories,
//     submodules) is mounted read-only.
//
// What the agent makes anew (a repository in a subfolder) is moved out of
// the workspace when the session ends (workspace.Quarantine).
func GitMounts(r *workspace.Record, stateDir string) []spec.Mount {
	var out []spec.Mount
	switch r.Git {
	case workspace.GitDir:
		out = append(out, spec.Mount{Source: filepath.Join(stateDir, GitDir), Target: Workspace + "/.git"})
	case workspace.GitFile:
		out = append(out,
			spec.Mount{Source: filepath.Join(stateDir, gitFile), Target: Workspace + "/.git", ReadOnly: true},
			spec.Mount{Source: filepath.Join(stateDir, GitDir), Target: GitDirPath})
	}
	if r.Git != workspace.GitNone {
		for _, o := range r.Objects {
			out = append(out, spec.Mount{Source: o, Target: o, ReadOnly: true})
		}
	}
	for _, n := range r.Nested {
		out = append(out, spec.Mount{Source: filepath.Join(r.Dir, n), Target: filepath.Join(Workspace, n), ReadOnly: true, Expect: recorded(r.Seen[n])})
	}
	return out
}

// recorded is what the first start found of an entry of the workspace,
// for an engine to compare with the mount's source (nil when the record
// does not say).
func recorded(e workspace.Entry) *spec.FileID {
	if e.Ino == 0 {
		return nil
	}
	return &spec.FileID{Dev: e.Dev, Ino: e.Ino}
}

// prepareGit makes the agent's git folder at its first start (a resumed
// bottle keeps the one it has), owned by the agent's user; st is the
// agent's state folder.
func prepareGit(r *workspace.Record, stateDir string, st beneath.Dir) error {
	if r.Git == workspace.GitNone {
		return nil
	}
	if _, err := st.Lstat(GitDir); errors.Is(err, fs.ErrNotExist) {
		if err := workspace.SeedGitDir(r, st.MustJoin(GitDir)); err != nil {
			st.RemoveAll(GitDir)
			return fmt.Errorf("prepare the agent's git folder: %w", err)
		}
	} else if err != nil {
		return err
	}
	if r.Git == workspace.GitFile {
		if err := beneath.At(stateDir).WriteFile(gitFile, []byte("gitdir: "+GitDirPath+"\n"), 0o644); err != nil {
			return fmt.Errorf("prepare the agent's git folder: %w", err)
		}
	}
	return nil
}
