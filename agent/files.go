package agent

import (
	"path/filepath"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// The agent's state folder (state.Bottle.AgentDir): what lives in it, named
// here only.
const (
	homeDir           = "home"      // the agent's $HOME
	copyDir           = "workspace" // copy mode: the bottle's copy of the working directory
	promptFile        = "prompt.md" // the prompt, mounted read-only
	caFile            = "ca.pem"    // the bottle's CA, which egress writes
	caBundleFile      = "ca-bundle.pem"
	builtinBuildDir   = "build"         // an embedded Containerfile, and its context
	workdirBuildDir   = "workdir-build" // a working directory's Containerfile and context, copied
	capabilityFile    = "Containerfile" // an approved capability request's Containerfile
	capabilityContext = "capability-context"
	stageDir          = "start" // the engine's, to start the container ahead of its go-ahead (spec.Container.Stage)
)

// Stage is the agent's stage in its state folder dir (spec.Container.Stage).
func Stage(dir string) string { return filepath.Join(dir, stageDir) }

// HomeDir is the agent's home in its state folder dir: for its mount.
func HomeDir(dir string) string { return filepath.Join(dir, homeDir) }

// HomeFolder is the agent's home, a folder the agent writes: what the host reads
// or writes there goes through it.
func HomeFolder(dir string) beneath.Dir { return beneath.At(dir).MustJoin(homeDir) }

// GitFolder is the agent's own git folder of a bind workspace (see
// AgentGitDir), a folder the agent writes.
func GitFolder(dir string) beneath.Dir { return beneath.At(dir).MustJoin(GitDir) }

// CopyFolder is a copy-mode bottle's copy of the working directory, a
// folder the agent writes.
func CopyFolder(dir string) beneath.Dir { return beneath.At(dir).MustJoin(copyDir) }

// AgentGit is the agent's own git folder: of a bind workspace, its git
// folder in the state; of a copied one, the copy's .git.
func AgentGit(dir string, copied bool) beneath.Dir {
	if copied {
		return CopyFolder(dir).MustJoin(".git")
	}
	return GitFolder(dir)
}

// CopiedWorkspace is a copy-mode bottle's copy of the working directory.
func CopiedWorkspace(dir string) string { return filepath.Join(dir, copyDir) }

// CAFiles are where the bottle's CA certificate alone, and the host's roots
// with it, are kept for the agent to trust.
func CAFiles(dir string) (ca, bundle string) {
	return filepath.Join(dir, caFile), filepath.Join(dir, caBundleFile)
}

// BuiltinBuildDir holds an embedded Containerfile written out to build.
func BuiltinBuildDir(dir string) string { return filepath.Join(dir, builtinBuildDir) }

// WorkdirBuildDir holds the copy of a working directory's Containerfile and context.
func WorkdirBuildDir(dir string) string { return filepath.Join(dir, workdirBuildDir) }

// CapabilityFile is the Containerfile an approved capability request wrote;
// CapabilityContext the empty context it builds in when the profile has none.
func CapabilityFile(dir string) string    { return filepath.Join(dir, capabilityFile) }
func CapabilityContext(dir string) string { return filepath.Join(dir, capabilityContext) }

// AgentGitDir is the agent's own git folder: of a bind workspace, its git
// folder in the state; of a copied one, the copy's .git.
func AgentGitDir(dir string, copied bool) string {
	if copied {
		return filepath.Join(CopiedWorkspace(dir), ".git")
	}
	return filepath.Join(dir, GitDir)
}
