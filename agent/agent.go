// Package agent plans the agent's container: its workspace, its home in the
// bottle's state, its user, and the limits the profile sets.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
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
	if a.Workspace == config.WorkspaceBind && in.Workspace != nil {
		mounts[0].Expect = recorded(in.Workspace.Root)
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
		Main:  true,
		Stage: Stage(in.StateDir),
	}
	if a.Runtime == config.RuntimeRunsc {
		c.Runtime, c.RuntimeSandbox = "runsc", true
	}
	return c, nil
}

// Prepare writes the agent's files into its state folder: its home, the
// prompt, and in copy mode a copy of the working directory. The agent's
// user owns them, so the agent can write its home and workspace under
// rootful Podman. The home, the agent's git folder and the copy are folders
// the agent writes: everything in them goes through internal/beneath.
func Prepare(ctx context.Context, in Input, copyWorkspace bool) error {
	st, err := prepareHome(in)
	if err != nil {
		return err
	}
	if prompt, err := promptText(in.Agent, in.Workdir, workdirOf(in)); err != nil {
		return err
	} else if prompt != "" {
		if err := beneath.At(in.StateDir).WriteFile(promptFile, []byte(prompt), 0o644); err != nil {
			return fmt.Errorf("prepare prompt: %w", err)
		}
	}
	if in.Agent.Workspace == config.WorkspaceBind && in.Workspace != nil {
		if err := prepareGit(in.Workspace, in.StateDir, st); err != nil {
			return err
		}
	}
	if in.Agent.Workspace == config.WorkspaceCopy && copyWorkspace {
		var leave []string
		if in.Workspace != nil && in.Workspace.LeftOut != "" {
			leave = []string{".git"} // it leads out of the working directory
		}
		if err := beneath.CopyTree(workdirOf(in), ".", st, copyDir, leave...); err != nil {
			return fmt.Errorf("copy workspace %s: %w", in.Workdir, err)
		}
	}
	return ctx.Err()
}

// stateOf is the agent's state folder (made when it is not there: it is
// the bottle's, which no container mounts whole), giving what it makes
// below to the agent's user.
func stateOf(in Input) (beneath.Dir, error) {
	st, err := beneath.Make(in.StateDir, 0o700)
	if err != nil {
		return st, fmt.Errorf("prepare the agent's folder: %w", err)
	}
	if uid, gid, ok := owner(in); ok {
		st = st.Owned(uid, gid)
	}
	return st, nil
}

// owner is the agent's user, when bottle runs as root for rootful Podman
// and the files it makes must be given to it.
func owner(in Input) (uid, gid int, ok bool) {
	if os.Geteuid() != 0 || in.Host.Rootless {
		return -1, -1, false
	}
	uid, gid, err := User(in.Agent, in.Host, in.Workdir)
	return uid, gid, err == nil
}

// workdirOf is the working directory, as the folder the first start
// recorded when there is a record.
func workdirOf(in Input) beneath.Dir {
	if in.Workspace != nil {
		return in.Workspace.Workspace()
	}
	return beneath.At(in.Workdir)
}

// promptText is the prompt, read from its file if it has one: through the
// working directory when its bottle.toml named it, so no link leads out.
func promptText(a *config.Agent, workdir string, wd beneath.Dir) (string, error) {
	if a.PromptFile == "" {
		return a.Prompt, nil
	}
	read := os.ReadFile
	if slices.Contains(a.FromWorkdir, "prompt_file") {
		read = func(p string) ([]byte, error) {
			rel, err := filepath.Rel(workdir, p)
			if err != nil || !filepath.IsLocal(rel) {
				return nil, fmt.Errorf("%s is outside the working directory %s", p, workdir)
			}
			return wd.ReadFile(rel)
		}
	}
	b, err := read(a.PromptFile)
	if err != nil {
		return "", fmt.Errorf("agent %s: prompt_file: %w", a.Name, err)
	}
	return string(b), nil
}

// WriteHomeFile writes a file into the agent's home (rel below it, such as
// .claude/.credentials.json), mode 0600, owned by the agent's user, its
// folders made as needed. content gets what the file holds now (nil when
// there is none, or it is a link or no regular file: neither is read).
// A link at rel, or on the way, is never written through.
func WriteHomeFile(in Input, rel string, content func(old []byte) ([]byte, error)) error {
	if _, _, err := User(in.Agent, in.Host, in.Workdir); err != nil {
		return err
	}
	st, err := stateOf(in)
	if err != nil {
		return err
	}
	home := st.MustJoin(homeDir)
	// The home is the agent's: a link it left on the way is replaced.
	if err := home.MkdirAllReplacing(path.Dir(rel), 0o700); err != nil {
		return err
	}
	old, err := home.ReadFile(rel)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, beneath.ErrLink) && !errors.Is(err, beneath.ErrType) {
		return err
	}
	data, err := content(old)
	if err != nil {
		return err
	}
	return home.WriteFile(rel, data, 0o600)
}

// WriteHomeFiles writes a profile's home_files into the agent's home, each
// laid over a JSON file the home holds there already ({supervise_url}
// filled in), in the order of their names.
func WriteHomeFiles(in Input, homeFiles map[string]string, superviseURL string) error {
	for _, rel := range slices.Sorted(maps.Keys(homeFiles)) {
		layer := []byte(strings.ReplaceAll(homeFiles[rel], "{supervise_url}", superviseURL))
		err := WriteHomeFile(in, rel, func(old []byte) ([]byte, error) {
			if old != nil {
				return MergeHomeJSON(old, layer), nil // the person's settings, with the profile's over them
			}
			return layer, nil
		})
		if err != nil {
			return fmt.Errorf("home_files %s: %w", rel, err)
		}
	}
	return nil
}
