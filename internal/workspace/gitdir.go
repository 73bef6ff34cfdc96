package workspace

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/files"
	gitconfig "github.com/go-git/go-git/v5/plumbing/format/config"
)

// SeedGitDir makes dst the agent's own git folder for a bind workspace: the
// repository's HEAD, index and refs as they are now, its objects borrowed
// read-only through alternates (nothing is copied), and a config holding
// only what git needs to work with it (format, remotes, branches): nothing
// of the host's that would run a program. The agent's commits, branches and
// config changes land here, never in the host's repository.
func SeedGitDir(r *Record, dst string) error {
	if r.Git == GitNone {
		return errors.New("the workspace is not a repository")
	}
	for _, d := range []string{dst, filepath.Join(dst, "objects", "info"), filepath.Join(dst, "objects", "pack"), filepath.Join(dst, "refs"), filepath.Join(dst, "info")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("seed the agent's git folder: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dst, "objects", "info", "alternates"), []byte(strings.Join(r.Objects, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	// Per work tree: HEAD and the index. Shared: refs, and what git reads beside them.
	files := []struct{ from, name string }{
		{r.GitDir, "HEAD"}, {r.GitDir, "index"},
		{r.CommonDir, "packed-refs"}, {r.CommonDir, "shallow"}, {filepath.Join(r.CommonDir, "info"), "exclude"},
	}
	for _, f := range files {
		to := filepath.Join(dst, f.name)
		if f.name == "exclude" {
			to = filepath.Join(dst, "info", "exclude")
		}
		if err := copyRegular(filepath.Join(f.from, f.name), to); err != nil {
			return err
		}
	}
	if entries, err := os.ReadDir(r.GitDir); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "sharedindex.") {
				if err := copyRegular(filepath.Join(r.GitDir, e.Name()), filepath.Join(dst, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	if err := copyRefs(filepath.Join(r.CommonDir, "refs"), filepath.Join(dst, "refs")); err != nil {
		return err
	}
	cfg, err := agentGitConfig(filepath.Join(r.CommonDir, "config"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dst, "config"), cfg, 0o644)
}

// agentGitConfig keeps of a repository's config what the agent's git needs
// and nothing that names a program: the format, remotes and branches.
func agentGitConfig(file string) ([]byte, error) {
	host, err := readGitConfig(file)
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

// copyRegular copies a regular file over dst; a missing one is fine, a link
// is not followed.
func copyRegular(src, dst string) error {
	fi, err := os.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.Mode().IsRegular()) {
		return nil
	}
	if err != nil {
		return err
	}
	os.Remove(dst)
	return files.Copy(src, dst, 0o644)
}

// copyRefs copies a refs tree: folders and regular files only.
func copyRefs(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == src {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyRegular(p, target)
		}
		return nil
	})
}
