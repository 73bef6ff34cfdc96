package beneath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"

	"golang.org/x/sys/unix"
)

// Walk calls fn for rel and, below it, every entry (depth first, by name),
// links not followed. fn's rel is relative to d; fs.SkipDir skips a
// folder's entries (or the rest of the folder, for a file), fs.SkipAll
// ends the walk. A rel that is not there is walked as nothing. The walk
// goes down by descriptor, one folder from the last, so no depth is too
// deep for it (a path past PATH_MAX included).
func (d Dir) Walk(rel string, fn func(rel string, fi fs.FileInfo) error) error {
	return d.WalkAt(rel, WalkOptions{}, func(rel string, fi fs.FileInfo, _ Handle) error { return fn(rel, fi) })
}

// WalkReadable is Walk where a folder below rel that may not be read is
// walked as empty.
func (d Dir) WalkReadable(rel string, fn func(rel string, fi fs.FileInfo) error) error {
	skip := func(_ string, err error) error {
		if errors.Is(err, fs.ErrPermission) {
			return nil
		}
		return err
	}
	return d.WalkAt(rel, WalkOptions{OnError: skip}, func(rel string, fi fs.FileInfo, _ Handle) error { return fn(rel, fi) })
}

// WalkOptions say how a walk meets a folder it may not read.
type WalkOptions struct {
	// Repair gives a folder the walker owns, and may not read, search or
	// write, its owner's read, write and search back, and goes on (a
	// folder's owner could; an agent sets such bits to hide what is in it).
	Repair bool
	// OnError is told of a folder the walk could not go into; nil (or
	// OnError's error) ends the walk with it, nil from OnError goes on.
	OnError func(rel string, err error) error
}

// Handle is where a walked entry is: its folder, open for the length of
// the call, and its name there.
type Handle struct {
	d      Dir
	dirfd  int
	name   string
	rel    string
	repair bool
}

// MoveTo renames the entry to toRel below to, which must not have it yet,
// from its folder's descriptor (so however deep it is); across file
// systems it copies and removes by path.
func (h Handle) MoveTo(to Dir, toRel string) error {
	tfull, err := to.rel(toRel)
	if err != nil {
		return err
	}
	to.traced("move", tfull)
	tfd, tbase, err := to.parent(tfull)
	if err != nil {
		return to.pathErr("move", tfull, err)
	}
	defer unix.Close(tfd)
	err = unix.Renameat2(h.dirfd, h.name, tfd, tbase, unix.RENAME_NOREPLACE)
	if (err == unix.EACCES || err == unix.EPERM) && h.repair && fixMode(h.dirfd, "") == nil {
		err = unix.Renameat2(h.dirfd, h.name, tfd, tbase, unix.RENAME_NOREPLACE)
	}
	if err == unix.EXDEV {
		return h.d.Move(h.rel, to, toRel)
	}
	return h.d.pathErr("move", path.Join(h.d.sub, h.rel), err)
}

// WalkAt is Walk with options, and with each entry's Handle.
func (d Dir) WalkAt(rel string, opts WalkOptions, fn func(rel string, fi fs.FileInfo, h Handle) error) error {
	full, err := d.rel(rel)
	if err != nil {
		return err
	}
	rel = path.Clean(rel)
	if full == "." {
		fd, err := d.openRoot()
		if err != nil {
			return d.pathErr("walk", full, err)
		}
		defer unix.Close(fd)
		fi, err := lstatAt(fd, "")
		if err != nil {
			return d.pathErr("walk", full, err)
		}
		err = fn(rel, fi, Handle{d: d, dirfd: fd, rel: rel}) // the top: its children are asked of fd
		if err == nil {
			err = d.walkIn(fd, rel, opts, fn)
		}
		return endOf(err)
	}
	pfd, base, err := d.parent(full)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return d.pathErr("walk", full, err)
	}
	defer unix.Close(pfd)
	return endOf(d.walkEntry(pfd, base, rel, opts, fn))
}

func endOf(err error) error {
	if err == fs.SkipAll || err == fs.SkipDir {
		return nil
	}
	return err
}

// walkEntry calls fn for the entry name of the folder dirfd, and walks it
// when it is a folder.
func (d Dir) walkEntry(dirfd int, name, rel string, opts WalkOptions, fn func(string, fs.FileInfo, Handle) error) error {
	fi, err := lstatAt(dirfd, name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return d.pathErr("walk", rel, err)
	}
	d.traced("walk", path.Join(d.sub, rel))
	if err := fn(rel, fi, Handle{d: d, dirfd: dirfd, name: name, rel: rel, repair: opts.Repair}); err != nil || !fi.IsDir() {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.EACCES && opts.Repair && fixMode(dirfd, name) == nil {
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return d.walkErr(rel, opts, err)
	}
	defer unix.Close(fd)
	return d.walkIn(fd, rel, opts, fn)
}

// walkIn walks the entries of the open folder fd (rel).
func (d Dir) walkIn(fd int, rel string, opts WalkOptions, fn func(string, fs.FileInfo, Handle) error) error {
	dup, err := unix.Dup(fd)
	if err != nil {
		return d.walkErr(rel, opts, err)
	}
	f := os.NewFile(uintptr(dup), rel)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return d.walkErr(rel, opts, err)
	}
	sort.Strings(names)
	for _, n := range names {
		err := d.walkEntry(fd, n, path.Join(rel, n), opts, fn)
		if err == fs.SkipDir {
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d Dir) walkErr(rel string, opts WalkOptions, err error) error {
	e := d.pathErr("walk", path.Join(d.sub, rel), err)
	if opts.OnError != nil {
		return opts.OnError(rel, e)
	}
	return e
}

// fixMode gives the entry name of the folder dirfd ("" for the folder
// itself) its owner's read, write and search, when the caller owns it: by
// its descriptor, never by a path a link could bend.
func fixMode(dirfd int, name string) error {
	flags := unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd := dirfd
	if name != "" {
		var err error
		if fd, err = unix.Openat(dirfd, name, flags, 0); err != nil {
			return err
		}
		defer unix.Close(fd)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() {
		return fs.ErrPermission
	}
	// An O_PATH descriptor takes no fchmod; its /proc link names the very
	// folder, whatever happens to its name meanwhile.
	return unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), st.Mode&0o7777|0o700)
}

// Lstat describes child, an entry of the walked entry (a folder), from
// descriptors alone.
func (h Handle) Lstat(child string) (fs.FileInfo, error) {
	fd := h.dirfd
	if h.name != "" {
		var err error
		if fd, err = unix.Openat(h.dirfd, h.name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err != nil {
			return nil, h.d.pathErr("lstat", path.Join(h.d.sub, h.rel), err)
		}
		defer unix.Close(fd)
	}
	fi, err := lstatAt(fd, child)
	if err != nil {
		return nil, h.d.pathErr("lstat", path.Join(h.d.sub, h.rel, child), err)
	}
	return fi, nil
}
