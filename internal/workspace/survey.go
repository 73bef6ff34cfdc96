// Package workspace is what bottle knows, on the host, of a working
// directory handed to an agent: where its git metadata lives, the remotes it
// names, and which git metadata was there before the agent. It is learnt once,
// at a bottle's first start, and kept in the bottle's own folder, so nothing
// the agent (or the repository) writes later changes what the host trusts.
package workspace

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	gitconfig "github.com/go-git/go-git/v5/plumbing/format/config"
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
	// Remotes are the repository's remotes and the URLs each names (url,
	// then pushurl), from its config.
	Remotes map[string][]string `json:"remotes,omitempty"`
	// Nested are the git metadata below the top, relative to Dir: .git
	// entries and folders shaped like a bare repository. Only a bind
	// workspace is searched.
	Nested []string `json:"nested,omitempty"`
}

// Survey reads what bottle needs of workdir's git metadata; with nested it
// also finds the git metadata below the top (for a bind workspace).
func Survey(workdir string, nested bool) (*Record, error) {
	r := &Record{Dir: workdir}
	top := filepath.Join(workdir, ".git")
	fi, err := os.Lstat(top)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case fi.Mode()&fs.ModeSymlink != 0:
		if nested {
			return nil, fmt.Errorf("%s is a symbolic link, which bottle cannot keep the agent from replacing: use workspace = \"copy\"", top)
		}
		real, err := filepath.EvalSymlinks(top)
		if err != nil {
			return nil, err
		}
		if err := r.setGitDir(real); err != nil {
			return nil, err
		}
		r.Git = GitDir
	case fi.IsDir():
		if err := r.setGitDir(top); err != nil {
			return nil, err
		}
		r.Git = GitDir
	case fi.Mode().IsRegular():
		dir, err := gitFileTarget(top)
		if err != nil {
			return nil, err
		}
		if err := r.setGitDir(dir); err != nil {
			return nil, err
		}
		r.Git = GitFile
	default:
		return nil, fmt.Errorf("%s is neither a folder nor a file", top)
	}
	if r.Git != GitNone {
		if r.Remotes, err = readRemotes(filepath.Join(r.CommonDir, "config")); err != nil {
			return nil, err
		}
	}
	if nested {
		if r.Nested, err = findGitMetadata(workdir, nil); err != nil {
			return nil, err
		}
		for _, n := range r.Nested {
			if fi, err := os.Lstat(filepath.Join(workdir, n)); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return nil, fmt.Errorf("%s is a symbolic link, which bottle cannot keep the agent from replacing: use workspace = \"copy\"", filepath.Join(workdir, n))
			}
		}
		if len(r.Nested) > MaxNested {
			return nil, fmt.Errorf("%s holds %d repositories below its top (%s, ...): a bind workspace mounts each read-only and takes at most %d; use workspace = \"copy\"", workdir, len(r.Nested), r.Nested[0], MaxNested)
		}
	}
	return r, nil
}

// setGitDir fills GitDir, CommonDir and Objects from a git folder.
func (r *Record) setGitDir(dir string) error {
	r.GitDir = filepath.Clean(dir)
	r.CommonDir = r.GitDir
	if data, err := os.ReadFile(filepath.Join(dir, "commondir")); err == nil {
		c := strings.TrimSpace(string(data))
		if !filepath.IsAbs(c) {
			c = filepath.Join(dir, c)
		}
		r.CommonDir = filepath.Clean(c)
	}
	if fi, err := os.Stat(filepath.Join(r.CommonDir, "objects")); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s is not a git repository: no objects folder", r.CommonDir)
	}
	r.Objects = objectDirs(filepath.Join(r.CommonDir, "objects"))
	return nil
}

// gitFileTarget reads a .git file ("gitdir: PATH", relative to its folder).
func gitFileTarget(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	target, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir:")
	if !ok {
		return "", fmt.Errorf("%s: not a gitdir file", file)
	}
	dir := strings.TrimSpace(target)
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(file), dir)
	}
	return filepath.Clean(dir), nil
}

// objectDirs is an object folder and, depth first, those its alternates
// name (relative ones are relative to the object folder, as git has it).
func objectDirs(objects string) []string {
	out := []string{objects}
	for i := 0; i < len(out) && len(out) < 8; i++ {
		data, err := os.ReadFile(filepath.Join(out[i], "info", "alternates"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if !filepath.IsAbs(line) {
				line = filepath.Join(out[i], line)
			}
			if line = filepath.Clean(line); !slices.Contains(out, line) {
				out = append(out, line)
			}
		}
	}
	return out
}

// readRemotes reads the remotes a git config names.
func readRemotes(file string) (map[string][]string, error) {
	cfg, err := readGitConfig(file)
	if err != nil || cfg == nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, sub := range cfg.Section("remote").Subsections {
		urls := slices.Clone(sub.OptionAll("url"))
		for _, u := range sub.OptionAll("pushurl") {
			if !slices.Contains(urls, u) {
				urls = append(urls, u)
			}
		}
		if len(urls) > 0 {
			out[sub.Name] = urls
		}
	}
	return out, nil
}

func readGitConfig(file string) (*gitconfig.Config, error) {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg := gitconfig.New()
	if err := gitconfig.NewDecoder(f).Decode(cfg); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return cfg, nil
}

// findGitMetadata lists, relative to dir, every .git entry (folder, file or
// link) and every folder shaped like a bare repository below dir's top,
// without following links or descending into what it finds. known are
// entries to leave out (and not descend into).
func findGitMetadata(dir string, known []string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrPermission) {
				return nil // what the owner cannot read, the owner's git does not run
			}
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".git" {
			return skip(d)
		}
		if d.Name() == ".git" || (d.IsDir() && bareShaped(p)) {
			if !slices.Contains(known, rel) {
				out = append(out, rel)
			}
			return skip(d)
		}
		return nil
	})
	return out, err
}

func skip(d fs.DirEntry) error {
	if d.IsDir() {
		return filepath.SkipDir
	}
	return nil
}

// bareShaped reports whether git, run in dir, would take it for a git
// folder: it holds HEAD, objects and refs.
func bareShaped(dir string) bool {
	for _, name := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// Marshal and Unmarshal keep a record in the bottle's folder.
func (r *Record) Marshal() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// Unmarshal reads a record written by Marshal.
func Unmarshal(data []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read the workspace record: %w", err)
	}
	return &r, nil
}
