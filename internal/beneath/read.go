package beneath

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
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
	io.Seeker
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

// OpenPath opens the entry at rel (a folder or a file) as an O_PATH
// descriptor, following no link, a link at rel itself refused too: a
// handle that names the very entry to the kernel (a mount's source) and
// reads nothing from it.
func (d Dir) OpenPath(rel string) (*os.File, error) {
	full, err := d.rel(rel)
	if err != nil {
		return nil, err
	}
	d.traced("openpath", full)
	fd, err := d.openFull(full, unix.O_PATH, 0)
	if err != nil {
		return nil, d.pathErr("open", full, err)
	}
	// O_PATH with O_NOFOLLOW opens a link at rel itself rather than
	// failing: refuse it here.
	fi, err := lstatAt(fd, "")
	if err == nil && fi.st.Mode&unix.S_IFMT == unix.S_IFLNK {
		err = ErrLink
	}
	if err != nil {
		unix.Close(fd)
		return nil, d.pathErr("open", full, err)
	}
	return newFile(fd, d.host(full)), nil
}
