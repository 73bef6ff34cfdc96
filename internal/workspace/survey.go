// Package workspace is what bottle knows, on the host, of a working
// directory handed to an agent: where its git metadata lives, the remotes it
// names, and which git metadata was there before the agent. It is learnt once,
// at a bottle's first start, and kept in the bottle's own folder, so nothing
// the agent (or the repository) writes later changes what the host trusts.
//
// A working directory is hostile ground (a repository someone else wrote;
// in bind mode, a folder the agent writes): every path in it is read
// through internal/beneath, and a repository may name only itself: its git
// folder, common folder and object folders lie inside it, unless the
// person's config names the repository they lead to.
package workspace

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// Kinds of git metadata at the top of a working directory.
const (
	GitNone = ""     // not a repository
	GitDir  = "dir"  // .git is a folder
	GitFile = "file" // .git is a file naming the git folder (a worktree, a submodule)
)

// MaxNested bounds the git metadata found below the top of a bind workspace:
// each is mounted read-only into the agent's container.
const MaxNested = 64

// Record is a working directory as bottle found it at the bottle's first start.
type Record struct {
	Dir string `json:"dir"`
	// Git is the kind of the top .git: GitNone, GitDir or GitFile.
	Git string `json:"git,omitempty"`
	// GitDir holds HEAD and the index (the .git folder, or the folder a
	// .git file names); CommonDir the objects, refs and config (the same,
	// or the main repository's of a worktree).
	GitDir    string `json:"git_dir,omitempty"`
	CommonDir string `json:"common_dir,omitempty"`
	// Objects are the object folders the repository reads: its own and
	// those its alternates borrow from.
	Objects []string `json:"objects,omitempty"`
	// Roots are the folders the paths above lie in: the working directory,
	// and the repositories of the person's config they lead to.
	Roots []string `json:"roots,omitempty"`
	// RootsSeen is what each repository of Roots (but the working
	// directory, which Root says) was at the first start: every later look
	// into it (the object folders' mounts, the agent's git folder's seed)
	// must find that folder at its path, not another one, or a link that a
	// bottle whose workspace holds it put there.
	RootsSeen map[string]Entry `json:"roots_seen,omitempty"`
	// Remotes are the repository's remotes and the URLs each names (url,
	// then pushurl), from its config.
	Remotes map[string][]string `json:"remotes,omitempty"`
	// Nested are the git metadata below the top, relative to Dir: .git
	// entries and folders shaped like a git folder. Only a bind workspace
	// is searched.
	Nested []string `json:"nested,omitempty"`
	// Seen is what each of the top .git and the Nested entries was at the
	// first start (type, device, inode): what is mounted, and what the
	// quarantine leaves in place, must still be it.
	Seen map[string]Entry `json:"seen,omitempty"`
	// Root is the working directory itself at the first start: every later
	// look at it (a resume's mounts, the settle's walk) must find that
	// folder at Dir, not another one or a link to one.
	Root Entry `json:"root,omitempty"`
	// LeftOut says why a copy workspace's git metadata is not copied (it
	// leads out of the working directory); "" when nothing is left out.
	LeftOut string `json:"left_out,omitempty"`
}

// Entry is what an entry of the workspace was, as lstat saw it.
type Entry struct {
	Type string `json:"type"` // "dir", "file", "link", "other"
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
}

func entryOf(fi fs.FileInfo) Entry {
	e := Entry{Type: "other"}
	switch {
	case fi.IsDir():
		e.Type = "dir"
	case fi.Mode().IsRegular():
		e.Type = "file"
	case fi.Mode()&fs.ModeSymlink != 0:
		e.Type = "link"
	}
	if id, ok := beneath.IDOf(fi); ok {
		e.Dev, e.Ino = id.Dev, id.Ino
	}
	return e
}

func (e Entry) String() string {
	switch e.Type {
	case "dir":
		return "a folder"
	case "file":
		return "a file"
	case "link":
		return "a symbolic link"
	case "":
		return "nothing"
	}
	return "neither a folder nor a file"
}

// LeadsOutError is a repository whose git metadata names a folder outside
// the working directory that the person's config does not name.
type LeadsOutError struct {
	Workdir, What, Target string
}

func (e *LeadsOutError) Error() string {
	return fmt.Sprintf("%s: its %s is %s, outside it: a repository may name only itself (add that repository to repositories in your config if it is yours, or use workspace = \"copy\", which leaves such metadata out)", e.Workdir, e.What, e.Target)
}

// Survey reads what bottle needs of workdir's git metadata; with nested
// (a bind workspace) it also finds the git metadata below the top. repos
// are the repositories the person's config names, which a worktree's or a
// borrower's metadata may lead to. In copy mode, metadata that leads out
// makes the record say so (LeftOut) instead of failing.
func Survey(workdir string, nested bool, repos []string) (*Record, error) {
	r := &Record{Dir: filepath.Clean(workdir), Roots: []string{filepath.Clean(workdir)}, Seen: map[string]Entry{}}
	fi, err := os.Stat(workdir)
	if err != nil {
		return nil, err
	}
	if r.Root = entryOf(fi); r.Root.Type != "dir" {
		return nil, fmt.Errorf("%s is not a folder", workdir)
	}
	ws := r.Workspace()
	for _, repo := range repos {
		if repo = filepath.Clean(repo); !slices.Contains(r.Roots, repo) {
			r.Roots = append(r.Roots, repo)
			// The person's config names it: its path is theirs (a link in
			// it too), the folder there now is the one recorded.
			if fi, err := os.Stat(repo); err == nil && fi.IsDir() {
				if r.RootsSeen == nil {
					r.RootsSeen = map[string]Entry{}
				}
				r.RootsSeen[repo] = entryOf(fi)
			}
		}
	}
	err = r.surveyTop(ws, nested)
	var out *LeadsOutError
	if errors.As(err, &out) && !nested {
		*r = Record{Dir: r.Dir, Roots: r.Roots[:1], LeftOut: out.Error()}
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if r.Git != GitNone {
		cfg, err := r.readGitConfig(path.Join(r.CommonDir, "config"))
		if err != nil {
			return nil, err
		}
		r.Remotes = remotesOf(cfg)
	}
	if nested {
		if r.Nested, err = findGitMetadata(ws, nil); err != nil {
			return nil, err
		}
		if len(r.Nested) > MaxNested {
			return nil, fmt.Errorf("%s holds %d repositories below its top (%s, ...): a bind workspace mounts each read-only and takes at most %d; use workspace = \"copy\"", workdir, len(r.Nested), r.Nested[0], MaxNested)
		}
		for _, n := range r.Nested {
			fi, err := ws.Lstat(n)
			if err != nil {
				return nil, err
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				return nil, fmt.Errorf("%s is a symbolic link, which bottle cannot keep the agent from replacing: use workspace = \"copy\"", filepath.Join(workdir, n))
			}
			r.Seen[n] = entryOf(fi)
		}
	}
	if len(r.Seen) == 0 {
		r.Seen = nil
	}
	return r, nil
}

// surveyTop reads the top .git.
func (r *Record) surveyTop(ws beneath.Dir, nested bool) error {
	fi, err := ws.Lstat(".git")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		if nested {
			return fmt.Errorf("%s is a symbolic link, which bottle cannot keep the agent from replacing: use workspace = \"copy\"", filepath.Join(r.Dir, ".git"))
		}
		target, _ := ws.Readlink(".git")
		return &LeadsOutError{Workdir: r.Dir, What: ".git", Target: "a symbolic link to " + target}
	case fi.IsDir():
		r.Git = GitDir
		r.Seen[".git"] = entryOf(fi)
		return r.setGitDir(filepath.Join(r.Dir, ".git"))
	case fi.Mode().IsRegular():
		dir, err := gitFileTarget(ws, ".git", r.Dir)
		if err != nil {
			return err
		}
		r.Git = GitFile
		r.Seen[".git"] = entryOf(fi)
		return r.setGitDir(dir)
	}
	return fmt.Errorf("%s is neither a folder nor a file", filepath.Join(r.Dir, ".git"))
}

// at is the root the host path p lies in and p below it; ok is false for
// a path in none of the record's roots.
func (r *Record) at(p string) (beneath.Dir, string, bool) {
	p = filepath.Clean(p)
	for _, root := range r.Roots {
		if rel, err := filepath.Rel(root, p); err == nil && filepath.IsLocal(rel) {
			if root == r.Dir {
				return r.Workspace(), filepath.ToSlash(rel), true
			}
			d := beneath.At(root)
			if e, ok := r.RootsSeen[root]; ok && e.Ino != 0 {
				d = d.Expect(beneath.ID{Dev: e.Dev, Ino: e.Ino})
			}
			return d, filepath.ToSlash(rel), true
		}
	}
	return beneath.Dir{}, "", false
}

// Workspace is the working directory, as a folder that must still be the
// one the first start found (a record of an earlier version did not say).
func (r *Record) Workspace() beneath.Dir {
	d := beneath.At(r.Dir)
	if r.Root.Ino != 0 {
		d = d.Expect(beneath.ID{Dev: r.Root.Dev, Ino: r.Root.Ino})
	}
	return d
}

// ReadGitFile reads a file of the repository (host path p, in one of its
// roots), following no link.
func (r *Record) ReadGitFile(p string) ([]byte, error) {
	d, rel, ok := r.at(p)
	if !ok {
		return nil, fmt.Errorf("%s is outside the repository's folders", p)
	}
	return d.ReadFile(rel)
}

// GitFolder is the host folder p (a git folder of the record's) as a
// beneath.Dir, so no link in it is followed.
func (r *Record) GitFolder(p string) (beneath.Dir, error) {
	d, rel, ok := r.at(p)
	if !ok {
		return beneath.Dir{}, fmt.Errorf("%s is outside the repository's folders", p)
	}
	return d.Join(rel)
}

// inRoots checks that p lies in one of the record's roots.
func (r *Record) inRoots(what, p string) error {
	if _, _, ok := r.at(p); !ok {
		return &LeadsOutError{Workdir: r.Dir, What: what, Target: p}
	}
	return nil
}

// findGitMetadata lists, relative to the workspace, every .git entry
// (folder, file or link) and every folder shaped like a git folder below
// its top, without following links or descending into what it finds.
// known are entries to leave out (and not descend into). Folders that may
// not be read are left out.
func findGitMetadata(ws beneath.Dir, known []string) ([]string, error) {
	var out []string
	skipUnreadable := func(_ string, err error) error {
		if errors.Is(err, fs.ErrPermission) {
			return nil
		}
		return err
	}
	err := ws.WalkAt(".", beneath.WalkOptions{OnError: skipUnreadable}, func(rel string, fi fs.FileInfo, h beneath.Handle) error {
		switch {
		case rel == ".":
			return nil
		case rel == ".git" || slices.Contains(known, rel):
			return skip(fi)
		case isGitMetadata(rel, fi, h):
			out = append(out, rel)
			return skip(fi)
		}
		return nil
	})
	return out, err
}

// isGitMetadata reports whether the walked entry is git metadata: a .git
// entry, or a folder git could take for a git folder.
func isGitMetadata(rel string, fi fs.FileInfo, h beneath.Handle) bool {
	return path.Base(rel) == ".git" || fi.IsDir() && gitShaped(h)
}

func skip(fi fs.FileInfo) error {
	if fi.IsDir() {
		return fs.SkipDir
	}
	return nil
}

// gitShaped reports whether git, run in or below the walked folder, could
// take it for a git folder: it holds HEAD, and objects and refs, or a
// commondir or gitdir file naming where they are.
func gitShaped(h beneath.Handle) bool {
	has := func(name string) bool {
		_, err := h.Lstat(name)
		return err == nil
	}
	return has("HEAD") && (has("objects") && has("refs") || has("commondir") || has("gitdir"))
}

// Marshal and Unmarshal keep a record in the bottle's folder.
func (r *Record) Marshal() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// Unmarshal reads a record written by Marshal.
func Unmarshal(data []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read the workspace record: %w", err)
	}
	if len(r.Roots) == 0 { // a record of an earlier version
		r.Roots = []string{r.Dir}
	}
	return &r, nil
}

// At is the root the host path p lies in (the working directory, or a
// repository the person's config names) and p below it; false when p lies
// in none: for go-git's alternates, which resolve only there.
func (r *Record) At(p string) (beneath.Dir, string, bool) { return r.at(p) }
