package gitgate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/beneath/billyfs"
	"github.com/bottle-sandbox/bottle/internal/workspace"
	"github.com/go-git/go-billy/v5"
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

// openHost opens the workspace's repository where the bottle's first start
// found it (its common folder: objects, refs, config), following nothing the
// working directory says now, and no link: the folders lie below the
// record's roots (the working directory, repositories the person's config
// names), and so do the object folders its alternates borrow from.
func openHost(ws *workspace.Record) (*git.Repository, error) {
	common, err := ws.GitFolder(ws.CommonDir)
	if err != nil {
		return nil, err
	}
	return openAt(common, ws)
}

// openAt opens the repository in d, its alternates resolved in ws's roots.
func openAt(d beneath.Dir, ws *workspace.Record) (*git.Repository, error) {
	st := filesystem.NewStorageWithOptions(billyfs.New(d), cache.NewObjectLRUDefault(),
		filesystem.Options{AlternatesFS: &billyfs.Alternates{At: ws.At}})
	return git.Open(&mirrorStorage{st}, nil)
}

// openUntrusted opens a git folder the agent could write (its own git folder
// of a bind workspace, a copied workspace's .git) only to read commits from
// it: no link in it is followed, and its alternates are not followed
// (whatever it lacks, the host's repository has, or it is not brought over).
func openUntrusted(gitDir beneath.Dir) (*git.Repository, error) {
	fi, err := gitDir.Lstat(".")
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a git folder", gitDir.Path())
	}
	fs := &noAlternates{billyfs.New(gitDir)}
	return git.Open(filesystem.NewStorage(fs, cache.NewObjectLRUDefault()), nil)
}

// noAlternates hides a git folder's objects/info/alternates.
type noAlternates struct{ billy.Filesystem }

func (n *noAlternates) Open(name string) (billy.File, error) {
	if isAlternates(name) {
		return nil, os.ErrNotExist
	}
	return n.Filesystem.Open(name)
}

func (n *noAlternates) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	if isAlternates(name) {
		return nil, os.ErrNotExist
	}
	return n.Filesystem.OpenFile(name, flag, perm)
}

func isAlternates(name string) bool {
	return filepath.Clean(filepath.FromSlash(name)) == filepath.Join("objects", "info", "alternates")
}

// seedMirror makes a bare mirror (in the gate's folder, d) borrowing the
// host repository's objects, with the host's view of the remote as its
// branches: refs/remotes/NAME/* become refs/heads/*, refs/remotes/NAME/HEAD
// its HEAD, and the host's tags its tags. No object is copied and nothing
// is fetched.
func seedMirror(d beneath.Dir, host *git.Repository, ws *workspace.Record, name string) error {
	if err := d.MkdirAll(".", 0o755); err != nil {
		return err
	}
	st := filesystem.NewStorage(billyfs.New(d), cache.NewObjectLRUDefault())
	if _, err := git.Init(st, nil); err != nil {
		return fmt.Errorf("create mirror %s: %w", d.Path(), err)
	}
	if host == nil {
		return nil
	}
	if err := d.MkdirAll("objects/info", 0o755); err != nil {
		return err
	}
	if err := d.WriteFile("objects/info/alternates", []byte(strings.Join(ws.Objects, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	m, err := openAt(d, ws)
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
