// Package agent plans the agent's container: its workspace, its home in the
// bottle's state, its user, and the limits the profile sets.
package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/files"
	"github.com/bottle-sandbox/bottle/internal/inside"
	"github.com/bottle-sandbox/bottle/internal/workspace"
	"github.com/bottle-sandbox/bottle/spec"
)

// Paths inside the agent container.
const (
	Workspace  = "/workspace"
	Home       = "/home/bottle"
	PromptPath = "/run/bottle/prompt.md"
)

// Service is the agent's name among the bottle's services and its state subfolder.
const Service = "agent"

// DefaultUID is the agent's user under rootful Podman when the working
// directory belongs to root: the agent never runs as root.
const DefaultUID = 1000

// Host is what the plan needs to know about the machine and the caller.
type Host struct {
	Rootless bool
	// UID and GID are the invoking user's.
	UID, GID int
	// OwnerUID and OwnerGID own the working directory.
	OwnerUID, OwnerGID int
}

// SidecarUser is the uid:gid the sidecars run as: the invoking user where
// keep-id maps it, else root of the user namespace (which is that user, rootless).
func SidecarUser(a *config.Agent, h Host) string {
	if KeepID(a, h) {
		return fmt.Sprintf("%d:%d", h.UID, h.GID)
	}
	return "0:0"
}

// KeepID reports whether the pod maps the invoking user onto itself. gVisor
// cannot join a pod's own user namespace (its gofer fails to setns into it),
// so a rootless runsc bottle runs in Podman's rootless namespace instead.
func KeepID(a *config.Agent, h Host) bool {
	return h.Rootless && a.Runtime != config.RuntimeRunsc
}

// User returns the uid and gid the agent runs as, inside its container.
// Rootless, keep-id maps the invoking user onto itself, so files in the
// workspace stay the user's. Rootless under runsc there is no keep-id: uid 0
// of Podman's rootless user namespace is the invoking user on the host, with
// every capability dropped. Rootful, the agent takes the working directory's
// owner, never root.
func User(a *config.Agent, h Host, workdir string) (uid, gid int, err error) {
	switch {
	case h.Rootless && !KeepID(a, h):
		return 0, 0, nil
	case h.Rootless:
		return h.UID, h.GID, nil
	case h.OwnerUID != 0:
		return h.OwnerUID, h.OwnerGID, nil
	case a.Workspace == config.WorkspaceBind:
		return 0, 0, fmt.Errorf("%s belongs to root and rootful Podman would run the agent as root to write it: use workspace = \"copy\", or rootless Podman", workdir)
	default:
		return DefaultUID, DefaultUID, nil
	}
}

// Input is everything the agent's container is planned from.
type Input struct {
	Agent *config.Agent
	// Image is where the agent's image comes from (spec.Image).
	Image    spec.Image
	Workdir  string
	StateDir string // the agent's state subfolder
	Host     Host
	Args     []string // replace the profile's args when set
	Resume   bool     // a kept bottle carrying on: the profile's resume_args follow
	// SuperviseURL replaces {supervise_url} in always_args.
	SuperviseURL string
	Labels       map[string]string
	// ExtraEnv and ExtraMounts come from the sidecars (proxy, CA); ExtraEnv wins over the profile's.
	ExtraEnv    map[string]string
	ExtraMounts []spec.Mount
	// Workspace is the working directory as found at the bottle's first
	// start; in bind mode it says how the agent's git is kept away from the
	// host's (see GitMounts). nil when unknown.
	Workspace *workspace.Record
}

// Container plans the agent's container.
func Container(name string, in Input) (spec.Container, error) {
	a := in.Agent
	uid, gid, err := User(a, in.Host, in.Workdir)
	if err != nil {
		return spec.Container{}, err
	}
	args := slices.Clone(a.Args)
	if in.Args != nil {
		args = slices.Clone(in.Args)
	}
	for _, x := range a.AlwaysArgs {
		args = append(args, strings.ReplaceAll(x, "{supervise_url}", in.SuperviseURL))
	}
	if in.Resume {
		args = append(args, a.ResumeArgs...)
	}
	ws := in.Workdir
	if a.Workspace == config.WorkspaceCopy {
		ws = CopiedWorkspace(in.StateDir)
	}
	env := map[string]string{}
	for k, v := range a.Env {
		env[k] = v
	}
	for k, v := range in.ExtraEnv {
		env[k] = v
	}
	env["HOME"] = Home
	mounts := []spec.Mount{
		{Source: ws, Target: Workspace},
		{Source: HomeDir(in.StateDir), Target: Home},
	}
	mounts = append(mounts, in.ExtraMounts...)
	if a.Workspace == config.WorkspaceBind && in.Workspace != nil {
		mounts = append(mounts, GitMounts(in.Workspace, in.StateDir)...)
	}
	if a.Prompt != "" || a.PromptFile != "" {
		mounts = append(mounts, spec.Mount{Source: filepath.Join(in.StateDir, promptFile), Target: PromptPath, ReadOnly: true})
		env["BOTTLE_PROMPT_FILE"] = PromptPath
	}
	c := spec.Container{
		Name:    name,
		Service: Service,
		Image:   in.Image,
		Command: append(slices.Clone(a.Command), args...),
		Env:     env,
		WorkDir: Workspace,
		User:    fmt.Sprintf("%d:%d", uid, gid),
		Mounts:  mounts,
		Labels:  in.Labels,
		Resources: spec.Resources{
			MemoryBytes: a.MemoryBytes,
			CPUs:        a.CPUs,
			Pids:        a.Pids,
		},
		Main: true,
	}
	if a.Runtime == config.RuntimeRunsc {
		c.Runtime, c.RuntimeSandbox = "runsc", true
	}
	return c, nil
}

// Prepare writes the agent's files into its state folder: its home, the
// prompt, and in copy mode a copy of the working directory. uid and gid own
// them, so the agent can write its home and workspace under rootful Podman.
func Prepare(ctx context.Context, in Input, copyWorkspace bool) error {
	uid, gid, err := User(in.Agent, in.Host, in.Workdir)
	if err != nil {
		return err
	}
	home := HomeDir(in.StateDir)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("prepare agent home: %w", err)
	}
	if err := chownIfRoot(home, uid, gid); err != nil {
		return err
	}
	if prompt, err := promptText(in.Agent, in.Workdir); err != nil {
		return err
	} else if prompt != "" {
		if err := os.WriteFile(filepath.Join(in.StateDir, promptFile), []byte(prompt), 0o644); err != nil {
			return fmt.Errorf("prepare prompt: %w", err)
		}
	}
	if in.Agent.Workspace == config.WorkspaceBind && in.Workspace != nil {
		if err := prepareGit(in.Workspace, in.StateDir, uid, gid, in.Host.Rootless); err != nil {
			return err
		}
	}
	if in.Agent.Workspace == config.WorkspaceCopy && copyWorkspace {
		dst := CopiedWorkspace(in.StateDir)
		if err := CopyTree(ctx, in.Workdir, dst); err != nil {
			return fmt.Errorf("copy workspace %s: %w", in.Workdir, err)
		}
		if os.Geteuid() == 0 && !in.Host.Rootless {
			if err := chownTree(dst, uid, gid); err != nil {
				return fmt.Errorf("copy workspace %s: %w", in.Workdir, err)
			}
		}
	}
	return nil
}

// promptText is the prompt, read from its file if it has one: through the
// working directory when its bottle.toml named it, so no link leads out.
func promptText(a *config.Agent, workdir string) (string, error) {
	if a.PromptFile == "" {
		return a.Prompt, nil
	}
	read := os.ReadFile
	if slices.Contains(a.FromWorkdir, "prompt_file") {
		read = func(p string) ([]byte, error) { return inside.ReadFile(workdir, p) }
	}
	b, err := read(a.PromptFile)
	if err != nil {
		return "", fmt.Errorf("agent %s: prompt_file: %w", a.Name, err)
	}
	return string(b), nil
}

func chownIfRoot(path string, uid, gid int) error {
	if os.Geteuid() != 0 {
		return nil
	}
	if err := os.Chown(path, uid, gid); err != nil {
		return fmt.Errorf("prepare %s: %w", path, err)
	}
	return nil
}

// WriteHomeFile writes a file into the agent's home (rel below it, such as
// .claude/.credentials.json), mode 0600, owned by the agent's user, its
// folders made as needed.
func WriteHomeFile(in Input, rel string, content func() ([]byte, error)) error {
	uid, gid, err := User(in.Agent, in.Host, in.Workdir)
	if err != nil {
		return err
	}
	data, err := content()
	if err != nil {
		return err
	}
	home := HomeDir(in.StateDir)
	path := filepath.Join(home, rel)
	if err := mkdirOwned(home, filepath.Dir(path), uid, gid); err != nil {
		return err
	}
	if err := files.WriteAtomic(path, data, 0o600); err != nil {
		return err
	}
	return chownIfRoot(path, uid, gid)
}
