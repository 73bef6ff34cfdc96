package beneath

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// noOpenat2 is set once the kernel says it has no openat2 (before 5.6):
// paths are then walked a component at a time, to the same rule.
var noOpenat2 atomic.Bool

// openRoot opens d's root, a trusted path: links in it are the host's;
// with Expect, it must be the folder expected.
func (d Dir) openRoot() (int, error) {
	fd, err := unix.Open(d.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil || d.want == nil {
		return fd, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if uint64(st.Dev) != d.want.Dev || uint64(st.Ino) != d.want.Ino {
		unix.Close(fd)
		return -1, ErrMoved
	}
	return fd, nil
}

// openFull opens full (below the root) beneath the root, following no link.
func (d Dir) openFull(full string, flags int, mode uint32) (int, error) {
	rootfd, err := d.openRoot()
	if err != nil {
		return -1, err
	}
	defer unix.Close(rootfd)
	return openBeneath(rootfd, full, flags, mode)
}

// openBeneath opens full below dirfd with O_NOFOLLOW, resolving no link on
// the way and never leaving dirfd.
func openBeneath(dirfd int, full string, flags int, mode uint32) (int, error) {
	flags |= unix.O_CLOEXEC | unix.O_NOFOLLOW
	if !noOpenat2.Load() {
		how := unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode), Resolve: resolveFlags}
		for range 32 {
			fd, err := unix.Openat2(dirfd, full, &how)
			switch {
			case err == unix.EAGAIN || err == unix.EINTR:
				continue // a rename raced the lookup: look again
			case err == unix.ENOSYS:
				noOpenat2.Store(true)
			default:
				return fd, linkOrErr(dirfd, full, err)
			}
			break
		}
	}
	return walkOpen(dirfd, full, flags, mode)
}

// walkOpen is openBeneath one component at a time: each folder opened with
// O_NOFOLLOW from the last one's descriptor ("." and clean local paths
// only, so nothing climbs out).
func walkOpen(dirfd int, full string, flags int, mode uint32) (int, error) {
	if full == "." {
		return unix.Openat(dirfd, ".", flags, mode)
	}
	parts := strings.Split(full, "/")
	fd := dirfd
	closeFd := func() {
		if fd != dirfd {
			unix.Close(fd)
		}
	}
	defer func() { closeFd() }()
	for _, p := range parts[:len(parts)-1] {
		nfd, err := unix.Openat(fd, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, linkOrErr(fd, p, err)
		}
		closeFd()
		fd = nfd
	}
	last := parts[len(parts)-1]
	nfd, err := unix.Openat(fd, last, flags, mode)
	if err != nil {
		return -1, linkOrErr(fd, last, err)
	}
	return nfd, nil
}

// linkOrErr says ELOOP for a lookup that met a link, whatever errno the
// open gave (ENOTDIR for O_DIRECTORY on a link, say).
func linkOrErr(dirfd int, name string, err error) error {
	if err != unix.ENOTDIR {
		return err
	}
	// Which component: the walk fails at the first link or file.
	parts := strings.Split(name, "/")
	fd := dirfd
	defer func() {
		if fd != dirfd {
			unix.Close(fd)
		}
	}()
	for _, p := range parts {
		var st unix.Stat_t
		if unix.Fstatat(fd, p, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return unix.ELOOP
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return err
		}
		nfd, oerr := unix.Openat(fd, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if oerr != nil {
			return err
		}
		if fd != dirfd {
			unix.Close(fd)
		}
		fd = nfd
	}
	return err
}

// parent opens full's folder beneath the root and returns it with full's
// last name. full must not be the root.
func (d Dir) parent(full string) (int, string, error) {
	if full == "." {
		return -1, "", errors.New("the folder's root itself")
	}
	dir, base := path.Split(full)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	fd, err := d.openFull(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	return fd, base, err
}

// fileInfo is an fs.FileInfo from an lstat.
type fileInfo struct {
	name string
	st   unix.Stat_t
}

func (f *fileInfo) Name() string { return f.name }
func (f *fileInfo) Size() int64  { return f.st.Size }
func (f *fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(f.st.Mode & 0o777)
	switch f.st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if f.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if f.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if f.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
func (f *fileInfo) ModTime() time.Time { return time.Unix(f.st.Mtim.Unix()) }
func (f *fileInfo) IsDir() bool        { return f.st.Mode&unix.S_IFMT == unix.S_IFDIR }
func (f *fileInfo) Sys() any           { return &f.st }

// ID is what identifies an entry on the host, from an FileInfo this
// package (or os) made: its device and inode.
type ID struct {
	Dev, Ino uint64
}

// IDOf returns fi's device and inode, and false for a FileInfo that has none.
func IDOf(fi fs.FileInfo) (ID, bool) {
	switch st := fi.Sys().(type) {
	case *unix.Stat_t:
		return ID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}, true
	case *syscall.Stat_t:
		return ID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}, true
	}
	return ID{}, false
}

// OwnerOf returns fi's owner, and false for a FileInfo that has none.
func OwnerOf(fi fs.FileInfo) (uid, gid int, ok bool) {
	switch st := fi.Sys().(type) {
	case *unix.Stat_t:
		return int(st.Uid), int(st.Gid), true
	case *syscall.Stat_t:
		return int(st.Uid), int(st.Gid), true
	}
	return 0, 0, false
}

func lstatAt(dirfd int, name string) (*fileInfo, error) {
	fi := &fileInfo{name: path.Base(name)}
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	if err := unix.Fstatat(dirfd, name, &fi.st, flags); err != nil {
		return nil, err
	}
	return fi, nil
}

// newFile wraps a descriptor this package opened.
func newFile(fd int, name string) *os.File { return os.NewFile(uintptr(fd), name) }
