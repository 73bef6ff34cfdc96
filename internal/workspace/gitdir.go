package workspace

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	gitconfig "github.com/go-git/go-git/v5/plumbing/format/config"
)

// SeedGitDir makes dst the agent's own git folder for a bind workspace: the
// repository's HEAD, index and refs as they are now, its objects borrowed
// read-only through alternates (nothing is copied), and a config holding
// only what git needs to work with it (format, remotes, branches): nothing
// of the host's that would run a program. The agent's commits, branches and
// config changes land here, never in the host's repository. Only regular
// files are taken from the repository, and no link in it is followed.
func SeedGitDir(r *Record, dst beneath.Dir) error {
	if r.Git == GitNone {
		return errors.New("the workspace is not a repository")
	}
	for _, d := range []string{".", "objects/info", "objects/pack", "refs", "info"} {
		if err := dst.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("seed the agent's git folder: %w", err)
		}
	}
	if err := dst.WriteFile("objects/info/alternates", []byte(strings.Join(r.Objects, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	// Per work tree: HEAD and the index. Shared: refs, and what git reads beside them.
	files := []struct{ from, name, to string }{
		{r.GitDir, "HEAD", "HEAD"}, {r.GitDir, "index", "index"},
		{r.CommonDir, "packed-refs", "packed-refs"}, {r.CommonDir, "shallow", "shallow"}, {r.CommonDir, "info/exclude", "info/exclude"},
	}
	for _, f := range files {
		if err := copyRegular(r, filepath.Join(f.from, f.name), dst, f.to); err != nil {
			return err
		}
	}
	gitDir, err := r.GitFolder(r.GitDir)
	if err != nil {
		return err
	}
	if entries, err := gitDir.ReadDir("."); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "sharedindex.") {
				if err := copyRegular(r, filepath.Join(r.GitDir, e.Name()), dst, e.Name()); err != nil {
					return err
				}
			}
		}
	}
	if err := copyRefs(r, dst); err != nil {
		return err
	}
	cfg, err := r.agentGitConfig()
	if err != nil {
		return err
	}
	return dst.WriteFile("config", cfg, 0o644)
}

// agentGitConfig keeps of a repository's config what the agent's git needs
// and nothing that names a program: the format, remotes and branches.
func (r *Record) agentGitConfig() ([]byte, error) {
	host, err := r.readGitConfig(filepath.Join(r.CommonDir, "config"))
	if err != nil {
		return nil, err
	}
	out := gitconfig.New()
	core := out.Section("core")
	core.SetOption("repositoryformatversion", "0")
	core.SetOption("bare", "false")
	core.SetOption("logallrefupdates", "true")
	if host != nil {
		hc := host.Section("core")
		for _, k := range []string{"repositoryformatversion", "filemode", "symlinks", "ignorecase", "precomposeunicode", "autocrlf", "eol"} {
			if hc.HasOption(k) {
				core.SetOption(k, hc.Option(k))
			}
		}
		for _, name := range []string{"extensions", "remote", "branch"} {
			if host.HasSection(name) {
				out.Sections = append(out.Sections, host.Section(name))
			}
		}
	}
	var b bytes.Buffer
	if err := gitconfig.NewEncoder(&b).Encode(out); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// copyRegular copies the repository's file src (a host path) to rel in
// dst; a missing one, a link or anything but a regular file is left out.
func copyRegular(r *Record, src string, dst beneath.Dir, rel string) error {
	data, err := r.ReadGitFile(src)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, beneath.ErrLink) || errors.Is(err, beneath.ErrType) {
		return nil
	}
	if err != nil {
		return err
	}
	return dst.WriteFile(rel, data, 0o644)
}

// copyRefs copies the repository's refs tree: folders and regular files only.
func copyRefs(r *Record, dst beneath.Dir) error {
	refs, err := r.GitFolder(filepath.Join(r.CommonDir, "refs"))
	if err != nil {
		return err
	}
	return refs.Walk(".", func(p string, fi fs.FileInfo) error {
		target := path.Join("refs", p)
		switch {
		case fi.IsDir():
			return dst.MkdirAll(target, 0o755)
		case fi.Mode().IsRegular():
			data, err := refs.ReadFile(p)
			if err != nil {
				return err
			}
			return dst.WriteFile(target, data, 0o644)
		}
		return nil
	})
}
