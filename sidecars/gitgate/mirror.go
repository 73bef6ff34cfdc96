package gitgate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// openMirror opens a bare mirror, following its alternates (the host
// repository's objects, at the same absolute path on the host and in the gate).
func openMirror(path string) (*git.Repository, error) {
	st := filesystem.NewStorageWithOptions(osfs.New(path), cache.NewObjectLRUDefault(),
		filesystem.Options{AlternatesFS: osfs.New("/")})
	return git.Open(&mirrorStorage{st}, nil)
}

// mirrorStorage is go-git's storage, whose HasEncodedObject ignores
// alternates (EncodedObject follows them): ask the way that does.
type mirrorStorage struct{ *filesystem.Storage }

func (m *mirrorStorage) HasEncodedObject(h plumbing.Hash) error {
	if m.Storage.HasEncodedObject(h) == nil {
		return nil
	}
	_, err := m.Storage.EncodedObject(plumbing.AnyObject, h)
	return err
}

// hostCommonDir finds the folder holding the objects and refs of the working
// directory's repository: .git, or for a .git file (a worktree or submodule)
// the common folder of the one it points at. "" when workdir is no repository.
func hostCommonDir(workdir string) (string, error) {
	gitDir := filepath.Join(workdir, ".git")
	fi, err := os.Stat(gitDir)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		data, err := os.ReadFile(gitDir)
		if err != nil {
			return "", err
		}
		target, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir:")
		if !ok {
			return "", fmt.Errorf("%s: not a gitdir file", gitDir)
		}
		if gitDir = strings.TrimSpace(target); !filepath.IsAbs(gitDir) {
			gitDir = filepath.Join(workdir, gitDir)
		}
	}
	data, err := os.ReadFile(filepath.Join(gitDir, "commondir"))
	if err != nil {
		return gitDir, nil
	}
	c := strings.TrimSpace(string(data))
	if !filepath.IsAbs(c) {
		c = filepath.Join(gitDir, c)
	}
	return filepath.Clean(c), nil
}

// openRepo opens the repository at dir, a worktree's common folder included.
func openRepo(dir string) (*git.Repository, error) {
	return git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
}

// seedMirror makes a bare mirror borrowing the host repository's objects,
// with the host's view of the remote as its branches: refs/remotes/NAME/*
// become refs/heads/*, refs/remotes/NAME/HEAD its HEAD, and the host's tags
// its tags. No object is copied and nothing is fetched.
func seedMirror(path string, host *git.Repository, hostObjects []string, name string) error {
	if _, err := git.PlainInit(path, true); err != nil {
		return fmt.Errorf("create mirror %s: %w", path, err)
	}
	if host == nil {
		return nil
	}
	info := filepath.Join(path, "objects", "info")
	if err := os.MkdirAll(info, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(info, "alternates"), []byte(strings.Join(hostObjects, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	m, err := openMirror(path)
	if err != nil {
		return err
	}
	refs, err := host.References()
	if err != nil {
		return err
	}
	prefix := "refs/remotes/" + name + "/"
	headSet := false
	var branches []plumbing.ReferenceName
	err = refs.ForEach(func(r *plumbing.Reference) error {
		n := r.Name().String()
		switch {
		case n == prefix+"HEAD" && r.Type() == plumbing.SymbolicReference:
			target := strings.Replace(r.Target().String(), prefix, "refs/heads/", 1)
			headSet = true
			return m.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.ReferenceName(target)))
		case strings.HasPrefix(n, prefix) && r.Type() == plumbing.HashReference:
			b := plumbing.ReferenceName("refs/heads/" + strings.TrimPrefix(n, prefix))
			branches = append(branches, b)
			return m.Storer.SetReference(plumbing.NewHashReference(b, r.Hash()))
		case r.Name().IsTag() && r.Type() == plumbing.HashReference:
			return m.Storer.SetReference(r)
		}
		return nil
	})
	if err != nil || headSet || len(branches) == 0 {
		return err
	}
	// The host never learnt the remote's default branch: main, master, or
	// the first there is.
	head := branches[0]
	for _, b := range []plumbing.ReferenceName{"refs/heads/master", "refs/heads/main"} {
		if slices.Contains(branches, b) {
			head = b
		}
	}
	return m.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, head))
}

// copyObjects copies into dst what tip reaches and dst lacks, stopping at
// objects dst has (a repository holds whatever its objects reach).
func copyObjects(src, dst storer.EncodedObjectStorer, tip plumbing.Hash) error {
	stack := []plumbing.Hash{tip}
	seen := map[plumbing.Hash]bool{}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[h] || dst.HasEncodedObject(h) == nil {
			continue
		}
		seen[h] = true
		o, err := src.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return fmt.Errorf("object %s: %w", h, err)
		}
		switch o.Type() {
		case plumbing.CommitObject:
			c, err := object.DecodeCommit(src, o)
			if err != nil {
				return err
			}
			stack = append(stack, c.TreeHash)
			stack = append(stack, c.ParentHashes...)
		case plumbing.TreeObject:
			t, err := object.DecodeTree(src, o)
			if err != nil {
				return err
			}
			for _, e := range t.Entries {
				if e.Mode.IsFile() || e.Mode == 0o40000 {
					stack = append(stack, e.Hash)
				}
			}
		case plumbing.TagObject:
			t, err := object.DecodeTag(src, o)
			if err != nil {
				return err
			}
			stack = append(stack, t.Target)
		}
		if _, err := dst.SetEncodedObject(o); err != nil {
			return err
		}
	}
	return nil
}

// DeltaObject is go-git's, falling back to the alternates like EncodedObject.
func (m *mirrorStorage) DeltaObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := m.Storage.DeltaObject(t, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return m.Storage.EncodedObject(t, h)
	}
	return o, err
}
