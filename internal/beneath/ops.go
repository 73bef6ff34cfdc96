package beneath

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"

	"golang.org/x/sys/unix"
)

// MaxRead bounds ReadFile: what bottle reads from hostile ground is
// settings, records and requests, never a disk's worth.
const MaxRead = 64 << 20

// Lstat describes the entry at rel itself (a link is a link); the folders
// on the way must be folders.
func (d Dir) Lstat(rel string) (fs.FileInfo, error) {
	full, err := d.rel(rel)
	if err != nil {
		return nil, err
	}
	d.traced("lstat", full)
	if full == "." {
		fd, err := d.openRoot()
		if err != nil {
			return nil, d.pathErr("lstat", full, err)
		}
		defer unix.Close(fd)
		fi, err := lstatAt(fd, "")
		if err == nil {
			fi.name = path.Base(d.root)
		}
		return fi, d.pathErr("lstat", full, err)
	}
	pfd, base, err := d.parent(full)
	if err != nil {
		return nil, d.pathErr("lstat", full, err)
	}
	defer unix.Close(pfd)
	fi, err := lstatAt(pfd, base)
	if err != nil {
		return nil, d.pathErr("lstat", full, err)
	}
	return fi, nil
}

// Open opens the regular file at rel for reading.
func (d Dir) Open(rel string) (File, error) {
	full, err := d.rel(rel)
	if err != nil {
		return nil, err
	}
	d.traced("open", full)
	// O_NONBLOCK: a pipe planted where a file was is refused, not waited on.
	fd, err := d.openFull(full, unix.O_RDONLY|unix.O_NONBLOCK, 0)
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
	if err != nil {
		unix.Close(fd)
		return nil, d.pathErr("open", full, err)
	}
	return newFile(fd, d.host(full)), nil
}

// File is a file Open gave.
type File interface {
	io.ReadCloser
	Stat() (fs.FileInfo, error)
}

// ReadFile reads the regular file at rel (at most MaxRead bytes).
func (d Dir) ReadFile(rel string) ([]byte, error) {
	f, err := d.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxRead+1))
	if err == nil && len(data) > MaxRead {
		err = fmt.Errorf("%s: over %d MiB", d.Path()+"/"+rel, MaxRead>>20)
	}
	return data, err
}

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

// Chown gives the entry at rel to uid:gid; a link is left alone.
func (d Dir) Chown(rel string, uid, gid int) error {
	full, err := d.rel(rel)
	if err != nil {
		return err
	}
	d.traced("chown", full)
	if full == "." {
		fd, err := d.openRoot()
		if err != nil {
			return d.pathErr("chown", full, err)
		}
		defer unix.Close(fd)
		return d.pathErr("chown", full, unix.Fchown(fd, uid, gid))
	}
	pfd, base, err := d.parent(full)
	if err != nil {
		return d.pathErr("chown", full, err)
	}
	defer unix.Close(pfd)
	fi, err := lstatAt(pfd, base)
	if err != nil {
		return d.pathErr("chown", full, err)
	}
	if fi.st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	return d.pathErr("chown", full, unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW))
}

// ChownTree gives rel and everything below it to uid:gid, links left alone.
func (d Dir) ChownTree(rel string, uid, gid int) error {
	return d.Walk(rel, func(p string, _ fs.FileInfo) error { return d.Chown(p, uid, gid) })
}

// Chmod sets the mode of the file or folder at rel (not a link).
func (d Dir) Chmod(rel string, mode fs.FileMode) error {
	full, err := d.rel(rel)
	if err != nil {
		return err
	}
	d.traced("chmod", full)
	fd, err := d.openFull(full, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return d.pathErr("chmod", full, err)
	}
	defer unix.Close(fd)
	m := uint32(mode.Perm())
	if mode&fs.ModeSetgid != 0 {
		m |= unix.S_ISGID
	}
	return d.pathErr("chmod", full, unix.Fchmod(fd, m))
}

// Entry is one entry of a folder, as ReadDir lists it.
type Entry struct {
	fs.FileInfo
}

func (e Entry) Type() fs.FileMode          { return e.Mode().Type() }
func (e Entry) Info() (fs.FileInfo, error) { return e.FileInfo, nil }

// ReadDir lists the folder at rel by name, each entry as lstat sees it
// (entries gone meanwhile are left out).
func (d Dir) ReadDir(rel string) ([]fs.DirEntry, error) {
	full, err := d.rel(rel)
	if err != nil {
		return nil, err
	}
	d.traced("readdir", full)
	fd, err := d.openFull(full, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, d.pathErr("readdir", full, err)
	}
	f := newFile(fd, d.host(full))
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, d.pathErr("readdir", full, err)
	}
	sort.Strings(names)
	out := make([]fs.DirEntry, 0, len(names))
	for _, n := range names {
		fi, err := lstatAt(int(f.Fd()), n)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return nil, d.pathErr("readdir", path.Join(full, n), err)
		}
		out = append(out, Entry{fi})
	}
	return out, nil
}

// Walk calls fn for rel and, below it, every entry (depth first, by name),
// links not followed. fn's rel is relative to d; fs.SkipDir skips a
// folder's entries (or the rest of the folder, for a file), fs.SkipAll
// ends the walk. A rel that is not there is walked as nothing.
func (d Dir) Walk(rel string, fn func(rel string, fi fs.FileInfo) error) error {
	return d.walkFrom(rel, false, fn)
}

// WalkReadable is Walk where a folder below rel that may not be read is
// walked as empty (what its owner cannot read, the owner's programs do not
// run either).
func (d Dir) WalkReadable(rel string, fn func(rel string, fi fs.FileInfo) error) error {
	return d.walkFrom(rel, true, fn)
}

func (d Dir) walkFrom(rel string, readable bool, fn func(string, fs.FileInfo) error) error {
	fi, err := d.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	err = d.walk(path.Clean(rel), fi, readable, fn)
	if err == fs.SkipAll || err == fs.SkipDir {
		return nil
	}
	return err
}

func (d Dir) walk(rel string, fi fs.FileInfo, readable bool, fn func(string, fs.FileInfo) error) error {
	if err := fn(rel, fi); err != nil || !fi.IsDir() {
		return err
	}
	entries, err := d.ReadDir(rel)
	if readable && errors.Is(err, fs.ErrPermission) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		info, _ := e.Info()
		err := d.walk(path.Join(rel, e.Name()), info, readable, fn)
		if err == fs.SkipDir {
			if info.IsDir() {
				continue
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Remove removes the file, link or empty folder at rel.
func (d Dir) Remove(rel string) error {
	full, err := d.rel(rel)
	if err != nil {
		return err
	}
	d.traced("remove", full)
	pfd, base, err := d.parent(full)
	if err != nil {
		return d.pathErr("remove", full, err)
	}
	defer unix.Close(pfd)
	err = unix.Unlinkat(pfd, base, 0)
	if err == unix.EISDIR {
		err = unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
	}
	return d.pathErr("remove", full, err)
}

// RemoveAll removes rel and everything below it, following no link; a rel
// that is not there is no error.
func (d Dir) RemoveAll(rel string) error {
	fi, err := d.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		entries, err := d.ReadDir(rel)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := d.RemoveAll(path.Join(rel, e.Name())); err != nil {
				return err
			}
		}
	}
	err = d.Remove(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Move renames rel to toRel in the folder to, which must not have it yet;
// across file systems it copies (links as links) and removes.
func (d Dir) Move(rel string, to Dir, toRel string) error {
	full, err := d.rel(rel)
	if err != nil {
		return err
	}
	tfull, err := to.rel(toRel)
	if err != nil {
		return err
	}
	d.traced("move", full)
	to.traced("move", tfull)
	pfd, base, err := d.parent(full)
	if err != nil {
		return d.pathErr("move", full, err)
	}
	defer unix.Close(pfd)
	tfd, tbase, err := to.parent(tfull)
	if err != nil {
		return to.pathErr("move", tfull, err)
	}
	defer unix.Close(tfd)
	err = unix.Renameat2(pfd, base, tfd, tbase, unix.RENAME_NOREPLACE)
	if err != unix.EXDEV {
		return d.pathErr("rename", full, err)
	}
	if err := CopyTree(d, rel, to, toRel); err != nil {
		to.RemoveAll(toRel)
		return err
	}
	return d.RemoveAll(rel)
}

// Readlink reads the link at rel.
func (d Dir) Readlink(rel string) (string, error) {
	full, err := d.rel(rel)
	if err != nil {
		return "", err
	}
	d.traced("readlink", full)
	pfd, base, err := d.parent(full)
	if err != nil {
		return "", d.pathErr("readlink", full, err)
	}
	defer unix.Close(pfd)
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(pfd, base, buf)
	if err != nil {
		return "", d.pathErr("readlink", full, err)
	}
	return string(buf[:n]), nil
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

// CopyTree copies rel of src to toRel of dst, which must not be there:
// folders (mode kept, owner-writable), regular files with their modes, and
// links as links; sockets, devices and pipes are left out, and so are the
// entries leave names (below rel). What is made is given to dst's owner.
func CopyTree(src Dir, rel string, dst Dir, toRel string, leave ...string) error {
	return src.Walk(rel, func(p string, fi fs.FileInfo) error {
		r, err := relTo(rel, p)
		if err != nil {
			return err
		}
		if slices.Contains(leave, r) {
			return skipOf(fi)
		}
		target := path.Join(toRel, r)
		switch {
		case fi.IsDir():
			return dst.Mkdir(target, fi.Mode().Perm()|0o700)
		case fi.Mode()&fs.ModeSymlink != 0:
			link, err := src.Readlink(p)
			if err != nil {
				return err
			}
			return dst.Symlink(link, target)
		case fi.Mode().IsRegular():
			f, err := src.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return dst.WriteFrom(target, f, fi.Mode().Perm())
		}
		return nil
	})
}

func skipOf(fi fs.FileInfo) error {
	if fi.IsDir() {
		return fs.SkipDir
	}
	return nil
}

// relTo is p below base (both clean, slash-separated).
func relTo(base, p string) (string, error) {
	base, p = path.Clean(base), path.Clean(p)
	if base == "." {
		return p, nil
	}
	if p == base {
		return ".", nil
	}
	if len(p) > len(base) && p[:len(base)] == base && p[len(base)] == '/' {
		return p[len(base)+1:], nil
	}
	return "", fmt.Errorf("%s is not below %s", p, base)
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

// Rename renames rel to toRel, both below d, replacing a file or link at
// toRel (never following it).
func (d Dir) Rename(rel, toRel string) error {
	full, err := d.rel(rel)
	if err != nil {
		return err
	}
	tfull, err := d.rel(toRel)
	if err != nil {
		return err
	}
	d.traced("rename", full)
	d.traced("rename", tfull)
	pfd, base, err := d.parent(full)
	if err != nil {
		return d.pathErr("rename", full, err)
	}
	defer unix.Close(pfd)
	tfd, tbase, err := d.parent(tfull)
	if err != nil {
		return d.pathErr("rename", tfull, err)
	}
	defer unix.Close(tfd)
	return d.pathErr("rename", full, unix.Renameat(pfd, base, tfd, tbase))
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
