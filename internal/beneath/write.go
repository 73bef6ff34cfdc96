package beneath

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// WriteFile writes data to rel whole: into a new file beside it, given to
// d's owner, then renamed over rel, so a link there is replaced, never
// written through. A folder or anything but a file or link at rel is left
// alone (ErrType).
func (d Dir) WriteFile(rel string, data []byte, perm fs.FileMode) error {
	return d.WriteFrom(rel, bytes.NewReader(data), perm)
}

// WriteFrom is WriteFile from a reader.
func (d Dir) WriteFrom(rel string, r io.Reader, perm fs.FileMode) error {
	full, err := d.rel(rel)
	if err != nil {
		return err
	}
	d.traced("write", full)
	pfd, base, err := d.parent(full)
	if err != nil {
		return d.pathErr("write", full, err)
	}
	defer unix.Close(pfd)
	if fi, err := lstatAt(pfd, base); err == nil {
		if t := fi.st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFLNK {
			return d.pathErr("write", full, ErrType)
		}
	}
	tmp, fd, err := createTemp(pfd, base)
	if err != nil {
		return d.pathErr("write", full, err)
	}
	f := newFile(fd, d.host(full))
	done := false
	defer func() {
		if !done {
			f.Close()
			unix.Unlinkat(pfd, tmp, 0)
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return d.pathErr("write", full, err)
	}
	if err := f.Chmod(perm); err != nil {
		return d.pathErr("write", full, err)
	}
	if d.uid >= 0 {
		if err := f.Chown(d.uid, d.gid); err != nil {
			return d.pathErr("write", full, err)
		}
	}
	if err := f.Sync(); err != nil {
		return d.pathErr("write", full, err)
	}
	if err := f.Close(); err != nil {
		unix.Unlinkat(pfd, tmp, 0)
		done = true
		return d.pathErr("write", full, err)
	}
	done = true
	if err := unix.Renameat(pfd, tmp, pfd, base); err != nil {
		unix.Unlinkat(pfd, tmp, 0)
		return d.pathErr("write", full, err)
	}
	unix.Fsync(pfd) // the rename, durable; best effort where refused
	return nil
}

// createTemp makes a new file beside base in the folder pfd.
func createTemp(pfd int, base string) (string, int, error) {
	for range 16 {
		b := make([]byte, 6)
		rand.Read(b)
		name := "." + base + ".tmp-" + hex.EncodeToString(b)
		if len(name) > 255 {
			name = ".bottle.tmp-" + hex.EncodeToString(b)
		}
		fd, err := unix.Openat(pfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == unix.EEXIST {
			continue
		}
		return name, fd, err
	}
	return "", -1, unix.EEXIST
}

// Mkdir makes the folder rel (its parent must be there), given to d's owner.
func (d Dir) Mkdir(rel string, perm fs.FileMode) error {
	full, err := d.rel(rel)
	if err != nil {
		return err
	}
	d.traced("mkdir", full)
	pfd, base, err := d.parent(full)
	if err != nil {
		return d.pathErr("mkdir", full, err)
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, base, uint32(perm.Perm())); err != nil {
		return d.pathErr("mkdir", full, err)
	}
	return d.pathErr("mkdir", full, d.own(pfd, base))
}

// MkdirAll makes rel and the folders on the way, each made given to d's
// owner; each one there already must be a folder, not a link to one.
func (d Dir) MkdirAll(rel string, perm fs.FileMode) error {
	full, err := d.rel(rel)
	if err != nil {
		return err
	}
	d.traced("mkdir", full)
	fd, err := d.openRoot()
	if err != nil {
		return d.pathErr("mkdir", ".", err)
	}
	defer func() { unix.Close(fd) }()
	if full == "." {
		return nil
	}
	at := "."
	for _, p := range splitPath(full) {
		at = path.Join(at, p)
		err := unix.Mkdirat(fd, p, uint32(perm.Perm()))
		made := err == nil
		if err != nil && err != unix.EEXIST {
			return d.pathErr("mkdir", at, err)
		}
		if made {
			if err := d.own(fd, p); err != nil {
				return d.pathErr("mkdir", at, err)
			}
		}
		nfd, err := unix.Openat(fd, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return d.pathErr("mkdir", at, linkOrErr(fd, p, err))
		}
		unix.Close(fd)
		fd = nfd
	}
	return nil
}

func splitPath(full string) []string {
	var out []string
	for full != "." && full != "" {
		dir, base := path.Split(full)
		out = append([]string{base}, out...)
		full = path.Clean(dir)
		if dir == "" {
			break
		}
	}
	return out
}

// own gives name (in the folder pfd) to d's owner, never through a link.
func (d Dir) own(pfd int, name string) error {
	if d.uid < 0 {
		return nil
	}
	return unix.Fchownat(pfd, name, d.uid, d.gid, unix.AT_SYMLINK_NOFOLLOW)
}

// Symlink makes a link at rel to target (which is never resolved here).
func (d Dir) Symlink(target, rel string) error {
	full, err := d.rel(rel)
	if err != nil {
		return err
	}
	d.traced("symlink", full)
	pfd, base, err := d.parent(full)
	if err != nil {
		return d.pathErr("symlink", full, err)
	}
	defer unix.Close(pfd)
	if err := unix.Symlinkat(target, pfd, base); err != nil {
		return d.pathErr("symlink", full, err)
	}
	return d.pathErr("symlink", full, d.own(pfd, base))
}

// OpenFile opens the regular file at rel with flag (os.O_* flags; O_CREATE
// makes it, given to d's owner). A link there is refused, never followed.
func (d Dir) OpenFile(rel string, flag int, perm fs.FileMode) (*os.File, error) {
	full, err := d.rel(rel)
	if err != nil {
		return nil, err
	}
	d.traced("open", full)
	fd, err := d.openFull(full, flag|unix.O_NONBLOCK, uint32(perm.Perm()))
	if err != nil {
		return nil, d.pathErr("open", full, err)
	}
	fi, err := lstatAt(fd, "")
	if err == nil && fi.st.Mode&unix.S_IFMT != unix.S_IFREG {
		err = ErrType
	}
	if err == nil {
		err = unix.SetNonblock(fd, false)
	}
	if err == nil && d.uid >= 0 && flag&os.O_CREATE != 0 {
		err = unix.Fchown(fd, d.uid, d.gid)
	}
	if err != nil {
		unix.Close(fd)
		return nil, d.pathErr("open", full, err)
	}
	return newFile(fd, d.host(full)), nil
}

// CreateTemp makes a new file in the folder dir (below d) whose name
// starts with prefix, and returns it with its path below d.
func (d Dir) CreateTemp(dir, prefix string) (*os.File, string, error) {
	for range 16 {
		b := make([]byte, 8)
		rand.Read(b)
		rel := path.Join(dir, prefix+hex.EncodeToString(b))
		f, err := d.OpenFile(rel, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, rel, err
	}
	return nil, "", &fs.PathError{Op: "createtemp", Path: d.Path(), Err: fs.ErrExist}
}

// MkdirAllReplacing is MkdirAll for a folder whose content is its writer's
// own (the agent's home): a link or anything but a folder on the way is
// removed (never followed) and a folder made in its place.
func (d Dir) MkdirAllReplacing(rel string, perm fs.FileMode) error {
	if _, err := d.rel(rel); err != nil {
		return err
	}
	at := "."
	for _, p := range splitPath(path.Clean(filepath.ToSlash(rel))) {
		at = path.Join(at, p)
		fi, err := d.Lstat(at)
		switch {
		case err == nil && fi.IsDir():
			continue
		case err == nil:
			if err := d.RemoveAll(at); err != nil {
				return err
			}
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if err := d.Mkdir(at, perm); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return d.MkdirAll(rel, perm)
}
