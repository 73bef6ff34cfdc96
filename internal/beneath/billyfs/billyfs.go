// Package billyfs lets go-git read and write a repository in a folder a
// container of a bottle can write (or a repository someone else made)
// through internal/beneath: no link in it is followed, no path leaves it.
package billyfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/go-git/go-billy/v5"
	"golang.org/x/sys/unix"
)

// FS is a billy.Filesystem over a beneath.Dir. Git makes no link in a git
// folder: one there (or anything but a file or folder) was planted, and
// reads as nothing, so go-git never follows one and a planted link cannot
// make it fail either (a ref that is a link is no ref). Writing where a
// link is fails.
type FS struct {
	dir beneath.Dir
}

// New is the repository (or any folder) at d.
func New(d beneath.Dir) *FS { return &FS{dir: d} }

var _ billy.Filesystem = (*FS)(nil)

func clean(name string) string {
	name = filepath.ToSlash(name)
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "" {
		return "."
	}
	return name
}

func (f *FS) Create(name string) (billy.File, error) {
	return f.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

func (f *FS) Open(name string) (billy.File, error) { return f.OpenFile(name, os.O_RDONLY, 0) }

func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	rel := clean(name)
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) == 0 {
		file, err := f.dir.OpenFile(rel, flag, perm)
		if err != nil {
			return nil, planted(err)
		}
		return &File{File: file, name: name}, nil
	}
	if flag&os.O_CREATE != 0 {
		if err := f.dir.MkdirAll(path.Dir(rel), 0o755); err != nil {
			return nil, err
		}
	}
	file, err := f.dir.OpenFile(rel, flag, perm)
	if err != nil {
		return nil, err
	}
	return &File{File: file, name: name}, nil
}

func (f *FS) Stat(name string) (os.FileInfo, error) { return f.Lstat(name) }

func (f *FS) Lstat(name string) (os.FileInfo, error) {
	fi, err := f.dir.Lstat(clean(name))
	if err != nil {
		return nil, planted(err)
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
	}
	return fi, nil
}

// planted reads a link or a type git never makes, met on the way to a
// name, as no such name.
func planted(err error) error {
	var pe *fs.PathError
	if (errors.Is(err, beneath.ErrLink) || errors.Is(err, beneath.ErrType)) && errors.As(err, &pe) {
		// A PathError, so os.IsNotExist (which go-git asks) sees it.
		return &fs.PathError{Op: pe.Op, Path: pe.Path, Err: fs.ErrNotExist}
	}
	return err
}

func (f *FS) Rename(from, to string) error {
	if err := f.dir.MkdirAll(path.Dir(clean(to)), 0o755); err != nil {
		return err
	}
	return f.dir.Rename(clean(from), clean(to))
}

func (f *FS) Remove(name string) error { return f.dir.Remove(clean(name)) }

func (f *FS) Join(elem ...string) string { return path.Join(elem...) }

func (f *FS) TempFile(dir, prefix string) (billy.File, error) {
	if err := f.dir.MkdirAll(clean(dir), 0o755); err != nil {
		return nil, err
	}
	file, rel, err := f.dir.CreateTemp(clean(dir), prefix)
	if err != nil {
		return nil, err
	}
	return &File{File: file, name: rel}, nil
}

func (f *FS) ReadDir(name string) ([]os.FileInfo, error) {
	entries, err := f.dir.ReadDir(clean(name))
	if err != nil {
		return nil, planted(err)
	}
	out := make([]os.FileInfo, 0, len(entries))
	for _, e := range entries {
		if fi, _ := e.Info(); fi.IsDir() || fi.Mode().IsRegular() {
			out = append(out, fi)
		}
	}
	return out, nil
}

func (f *FS) MkdirAll(name string, perm os.FileMode) error { return f.dir.MkdirAll(clean(name), perm) }

func (f *FS) Symlink(target, link string) error { return f.dir.Symlink(target, clean(link)) }

func (f *FS) Readlink(link string) (string, error) { return f.dir.Readlink(clean(link)) }

func (f *FS) Chroot(name string) (billy.Filesystem, error) {
	d, err := f.dir.Join(clean(name))
	if err != nil {
		return nil, err
	}
	return &FS{dir: d}, nil
}

func (f *FS) Root() string { return f.dir.Path() }

// File is a file of FS, named as go-git asked for it.
type File struct {
	*os.File
	name string
}

func (f *File) Name() string { return f.name }

func (f *File) Lock() error { return unix.Flock(int(f.Fd()), unix.LOCK_EX) }

func (f *File) Unlock() error { return unix.Flock(int(f.Fd()), unix.LOCK_UN) }

// Alternates is the filesystem go-git reads a repository's alternates
// through (absolute object folders): only those resolve names, each below
// one of the roots a record names, through beneath.
type Alternates struct {
	// At maps an absolute path to the root it lies below and the path
	// below it; false for a path outside every root.
	At func(p string) (beneath.Dir, string, bool)
}

var errOutside = errors.New("outside the repository's folders")

func (a *Alternates) resolve(name string) (*FS, string, error) {
	d, rel, ok := a.At(filepath.Clean(name))
	if !ok {
		return nil, "", &fs.PathError{Op: "alternates", Path: name, Err: errOutside}
	}
	return &FS{dir: d}, rel, nil
}

func (a *Alternates) Stat(name string) (os.FileInfo, error) {
	f, rel, err := a.resolve(name)
	if err != nil {
		return nil, err
	}
	return f.Stat(rel)
}

func (a *Alternates) Chroot(name string) (billy.Filesystem, error) {
	f, rel, err := a.resolve(name)
	if err != nil {
		return nil, err
	}
	return f.Chroot(rel)
}

func (a *Alternates) Root() string { return "/" }

func (a *Alternates) Open(name string) (billy.File, error) {
	f, rel, err := a.resolve(name)
	if err != nil {
		return nil, err
	}
	return f.Open(rel)
}

func (a *Alternates) Lstat(name string) (os.FileInfo, error) { return a.Stat(name) }

func (a *Alternates) ReadDir(name string) ([]os.FileInfo, error) {
	f, rel, err := a.resolve(name)
	if err != nil {
		return nil, err
	}
	return f.ReadDir(rel)
}

func (a *Alternates) Join(elem ...string) string { return filepath.Join(elem...) }

// What alternates are never asked to do: go-git writes only to the
// repository's own folder.
func (a *Alternates) Create(string) (billy.File, error) { return nil, errReadOnly }
func (a *Alternates) OpenFile(name string, flag int, _ os.FileMode) (billy.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		return nil, errReadOnly
	}
	return a.Open(name)
}
func (a *Alternates) Rename(string, string) error                 { return errReadOnly }
func (a *Alternates) Remove(string) error                         { return errReadOnly }
func (a *Alternates) TempFile(string, string) (billy.File, error) { return nil, errReadOnly }
func (a *Alternates) MkdirAll(string, os.FileMode) error          { return errReadOnly }
func (a *Alternates) Symlink(string, string) error                { return errReadOnly }
func (a *Alternates) Readlink(name string) (string, error) {
	return "", fmt.Errorf("%s: %w", name, errReadOnly)
}

var errReadOnly = billy.ErrReadOnly
