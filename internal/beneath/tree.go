package beneath

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"golang.org/x/sys/unix"
)

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
