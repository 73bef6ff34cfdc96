package pod

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/spec"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// errUnrecorded is a mount whose source the start recorded nothing of:
// bottle lets no container keep a mount it cannot compare.
var errUnrecorded = errors.New("bottle recorded nothing of its source, and keeps no mount it did not record")

// errNotMounted is a target where what the engine mounted is not: what is
// there is its source seen through another mount (a nested repository's
// git folder is in the workspace's too, at the very target), or the mount
// stands in another folder than the plan's, where a folder renamed on its
// way led it.
var errNotMounted = errors.New("its mount is not there: a folder renamed on its way led it elsewhere")

// errWritable is a mount the plan makes read-only found writable.
var errWritable = errors.New("it is writable, and the plan mounts it read-only")

// stRdOnly is ST_RDONLY of statfs(2)'s flags: the mount is read-only.
const stRdOnly = 0x1

// checkMounts compares what the container of the process init (a pidfd
// of pid) has at each of ms's targets with what the start recorded of its
// source (spec.Mount.Expect: its device and inode; a mount with no record
// is refused), each target resolved in the container's root following no
// link (checkMount). The engine mounted each by its path when it started
// the container, and whoever could rename a folder on either path
// meanwhile could have put another there (or a link to one of the host's:
// the person's ~/.ssh where a worktree's object folder was), or led the
// mount elsewhere in the container and left the host's own folder at its
// target (the repository's .git, which the agent's own covers; a nested
// repository's git folder, which its own read-only mount covers).
func checkMounts(init *os.File, pid int, ms []spec.Mount) error {
	for _, m := range ms {
		if m.Expect == nil {
			return fmt.Errorf("%s at %s: %w", m.Source, m.Target, errUnrecorded)
		}
	}
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("its root: %w", err)
	}
	defer unix.Close(root)
	// The process held pid when its root was opened: it is alive now.
	if err := unix.PidfdSendSignal(int(init.Fd()), 0, nil, 0); err != nil {
		return fmt.Errorf("its root: its process %d: %w", pid, err)
	}
	for i, m := range ms {
		if err := checkMount(root, ms, i); err != nil {
			return fmt.Errorf("%s at %s: %w", m.Source, m.Target, err)
		}
	}
	return nil
}

// checkMount checks ms[i] in the container whose root is root. At its
// target must stand a mount (the root of one: not its source seen through
// another mount) of the entry recorded, read-only if the plan says so.
// Beneath another of ms, it must stand in the folder of that mount the
// plan puts it in: the target's folder is opened by its path, then
// compared with that folder as the host has it, which must hold the entry
// recorded (folderOf): a bottle that holds the folder may rename it at any
// time (the mount over a nested repository's git folder led onto another
// git folder, that one put where the nested one was while the go-ahead
// looks, then put back).
func checkMount(root int, ms []spec.Mount, i int) error {
	m := ms[i]
	dir, base := filepath.Split(strings.TrimPrefix(m.Target, "/"))
	if dir == "" {
		dir = "."
	}
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | unix.O_DIRECTORY, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	d, err := unix.Openat2(root, dir, &how)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	if e := enclosing(ms, i); e >= 0 {
		want, err := folderOf(ms[e], m)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstat(d, &st); err != nil {
			return err
		}
		if (beneath.ID{Dev: uint64(st.Dev), Ino: st.Ino}) != want {
			return errNotMounted
		}
	}
	how = unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(d, base, &how)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		// No mount is there (one never stands on a link; O_PATH with
		// O_NOFOLLOW opened the link itself), whatever its inode: a
		// freed one is soon given again.
		return beneath.ErrLink
	}
	if uint64(st.Dev) != m.Expect.Dev || st.Ino != m.Expect.Ino {
		return beneath.ErrMoved
	}
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_TYPE, &stx); err != nil {
		return err
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return errors.New("this kernel does not say whether a mount is there (Linux 5.8 and later do)")
	}
	if stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return errNotMounted
	}
	if m.ReadOnly {
		var sfs unix.Statfs_t
		if err := unix.Fstatfs(fd, &sfs); err != nil {
			return err
		}
		if sfs.Flags&stRdOnly == 0 {
			return errWritable
		}
	}
	return nil
}

// enclosing is the index of the mount of ms whose target is the nearest
// folder above ms[i]'s (-1: none).
func enclosing(ms []spec.Mount, i int) int {
	e := -1
	for j, m := range ms {
		if j != i && strings.HasPrefix(ms[i].Target, m.Target+"/") && (e < 0 || len(m.Target) > len(ms[e].Target)) {
			e = j
		}
	}
	return e
}

// folderOf is what the folder of e's source that m's target lies in is on
// the host: e's source itself, or the folder below it, opened following no
// link; when m mounts an entry of e's source over itself (a nested
// repository's git folder, in the workspace), that folder must hold the
// entry recorded, looked up from the folder's descriptor: found by its
// path, it may be another folder at that moment (one a bottle that holds
// the workspace swapped in), holding another entry of that name.
func folderOf(e, m spec.Mount) (beneath.ID, error) {
	rel, err := filepath.Rel(e.Target, m.Target)
	if err != nil {
		return beneath.ID{}, err
	}
	dir, base := filepath.Split(rel)
	if dir == "" {
		return beneath.ID{Dev: e.Expect.Dev, Ino: e.Expect.Ino}, nil
	}
	f, err := beneath.At(e.Source).Expect(beneath.ID{Dev: e.Expect.Dev, Ino: e.Expect.Ino}).OpenPath(filepath.Clean(dir))
	if err != nil {
		return beneath.ID{}, fmt.Errorf("the folder it is mounted in: %w", err)
	}
	defer f.Close()
	var st unix.Stat_t
	if m.Source == filepath.Join(e.Source, rel) {
		if err := unix.Fstatat(int(f.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return beneath.ID{}, fmt.Errorf("the folder it is mounted in: %w", err)
		}
		if uint64(st.Dev) != m.Expect.Dev || st.Ino != m.Expect.Ino {
			return beneath.ID{}, beneath.ErrMoved
		}
	}
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return beneath.ID{}, fmt.Errorf("the folder it is mounted in: %w", err)
	}
	return beneath.ID{Dev: uint64(st.Dev), Ino: st.Ino}, nil
}

// checkSidecars compares, before the agent's command runs, what each
// running container of p but the agent's has at its mounts' targets with
// what the start recorded (checkMounts): a sidecar the engine gave another
// folder than the plan's (the git gate reads the repository's object
// folders at their own paths) is refused before the agent can reach it.
func (c *Conn) checkSidecars(ctx context.Context, p *spec.Plan) error {
	var g errgroup.Group
	for _, ct := range p.Containers {
		if ct.Main {
			continue
		}
		g.Go(func() error {
			init, pid, err := c.initOf(ctx, ct.Name)
			if err != nil {
				return err
			}
			defer init.Close()
			if err := checkMounts(init, pid, ct.Mounts); err != nil {
				return fmt.Errorf("the container %s: %w", ct.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// ownMounts are the mounts the engine adds to ct's container beside the
// plan's (the bottle binary and the stage, the empty folder in the
// workspace's place while it waits ahead of its go-ahead, the input
// folder), each recorded now, as openSource opens a host path: the
// bottle's own stage and the binary, in folders no container writes.
func (c *Conn) ownMounts(ct spec.Container) ([]spec.Mount, error) {
	ms := stageMounts(ct, c.exe, c.ahead(ct))
	ms = append(ms, c.inputMounts(ct)...)
	for i, m := range ms {
		f, err := beneath.At(filepath.Dir(m.Source)).OpenPath(filepath.Base(m.Source))
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		f.Close()
		if err != nil {
			return nil, err
		}
		id, ok := beneath.IDOf(fi)
		if !ok {
			return nil, fmt.Errorf("%s: no device and inode", m.Source)
		}
		ms[i].Expect = &spec.FileID{Dev: id.Dev, Ino: id.Ino}
	}
	return ms, nil
}
