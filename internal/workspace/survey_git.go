package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	gitconfig "github.com/go-git/go-git/v5/plumbing/format/config"
)

// setGitDir fills GitDir, CommonDir and Objects from a git folder, each of
// which must lie in the record's roots.
func (r *Record) setGitDir(dir string) error {
	r.GitDir = filepath.Clean(dir)
	if err := r.inRoots("git folder", r.GitDir); err != nil {
		return err
	}
	r.CommonDir = r.GitDir
	if data, err := r.ReadGitFile(filepath.Join(dir, "commondir")); err == nil {
		c := strings.TrimSpace(string(data))
		if !filepath.IsAbs(c) {
			c = filepath.Join(dir, c)
		}
		r.CommonDir = filepath.Clean(c)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := r.inRoots("common git folder (commondir)", r.CommonDir); err != nil {
		return err
	}
	objects := filepath.Join(r.CommonDir, "objects")
	d, rel, _ := r.at(objects)
	if fi, err := d.Lstat(rel); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s is not a git repository: no objects folder", r.CommonDir)
	}
	var err error
	r.Objects, err = r.objectDirs(objects)
	return err
}

// gitFileTarget reads a .git file ("gitdir: PATH", relative to its folder).
func gitFileTarget(ws beneath.Dir, rel, workdir string) (string, error) {
	data, err := ws.ReadFile(rel)
	if err != nil {
		return "", err
	}
	target, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir:")
	if !ok {
		return "", fmt.Errorf("%s: not a gitdir file", filepath.Join(workdir, rel))
	}
	dir := strings.TrimSpace(target)
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(workdir, filepath.Dir(rel), dir)
	}
	return filepath.Clean(dir), nil
}

// objectDirs is an object folder and, depth first, those its alternates
// name (relative ones are relative to the object folder, as git has it):
// each must lie in the record's roots.
func (r *Record) objectDirs(objects string) ([]string, error) {
	out := []string{objects}
	for i := 0; i < len(out) && len(out) < 8; i++ {
		data, err := r.ReadGitFile(filepath.Join(out[i], "info", "alternates"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if !filepath.IsAbs(line) {
				line = filepath.Join(out[i], line)
			}
			line = filepath.Clean(line)
			if err := r.inRoots("object folder (objects/info/alternates)", line); err != nil {
				return nil, err
			}
			if !slices.Contains(out, line) {
				out = append(out, line)
			}
		}
	}
	return out, nil
}

// remotesOf reads the remotes a git config names.
func remotesOf(cfg *gitconfig.Config) map[string][]string {
	if cfg == nil {
		return nil
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
	return out
}

// readGitConfig reads a git config file of the record's (nil when there is none).
func (r *Record) readGitConfig(p string) (*gitconfig.Config, error) {
	data, err := r.ReadGitFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cfg := gitconfig.New()
	if err := gitconfig.NewDecoder(strings.NewReader(string(data))).Decode(cfg); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return cfg, nil
}
