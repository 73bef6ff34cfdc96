package pod

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/spec"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// goAhead checks what the engine mounted into the running agent's
// container, and into its sidecars', against what the start recorded
// (checkMounts), mounts the workspace into it where the engine did not
// (mountInto), and gives it its command.
func (c *Conn) goAhead(ctx context.Context, p *spec.Plan) error {
	ct := *p.Main()
	var g errgroup.Group
	g.Go(func() error { return c.checkSidecars(ctx, p) })
	g.Go(func() error { return c.agentMounts(ctx, ct) })
	if err := g.Wait(); err != nil {
		return err
	}
	if err := c.sendCommand(ctx, ct); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(ct.Stage, spec.StageWaiting)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the stage of %s: %w", ct.Name, err)
	}
	return nil
}

// agentMounts compares every mount the engine made in the agent's
// container with what was recorded of its source, then, started ahead of
// its workspace (rootful), mounts the workspace and what lies beneath it.
func (c *Conn) agentMounts(ctx context.Context, ct spec.Container) error {
	ns, pid, err := c.initOf(ctx, ct.Name)
	if err != nil {
		return err
	}
	defer ns.Close()
	own, err := c.ownMounts(ct)
	if err == nil {
		err = aheadMounts(ns, pid, ct, own, c.checks(ct))
	}
	if err != nil {
		return fmt.Errorf("the agent's container %s: %w", ct.Name, err)
	}
	return nil
}

// aheadMounts is the go-ahead's part in the mounts of the agent's
// container (its init a pidfd of pid): what the engine mounted by path
// (all of ct's mounts when it mounted the workspace too, else those
// outside it; and its own, own) is compared with what the start recorded
// (checkMounts); then the workspace, and what lies beneath it, is mounted
// where the engine left it out (mountInto), and compared too: each of
// those targets is looked up by its path in the workspace, whose folders
// a bottle that holds it may rename meanwhile.
func aheadMounts(init *os.File, pid int, ct spec.Container, own []spec.Mount, engineMountedAll bool) error {
	early, late := lateMounts(ct)
	if engineMountedAll {
		early, late = ct.Mounts, nil
	}
	if err := checkMounts(init, pid, append(slices.Clip(early), own...)); err != nil {
		return err
	}
	if len(late) == 0 {
		return nil
	}
	if err := mountInto(init, late); err != nil {
		return err
	}
	return checkMounts(init, pid, late)
}

// mountInto mounts each of ms (a bind of a host path, recursive and
// private as Podman's; the workspace first) in the mount namespace of the
// process init (a pidfd), in order: the trees are cloned from the host's
// namespace, each source opened through internal/beneath (a source in the
// workspace beneath it, following no link: a link the agent left there is
// refused, not followed) and compared with what the bottle recorded of
// it; then attached in the container's, each target resolved in the
// container's root following no link either.
func mountInto(init *os.File, ms []spec.Mount) error {
	var trees []int
	defer func() {
		for _, fd := range trees {
			unix.Close(fd)
		}
	}()
	ws := beneath.At(ms[0].Source)
	if e := ms[0].Expect; e != nil {
		ws = ws.Expect(beneath.ID{Dev: e.Dev, Ino: e.Ino})
	}
	for _, m := range ms {
		src, err := openSource(ws, m)
		if err != nil {
			return fmt.Errorf("mount %s: %w", m.Source, err)
		}
		fd, err := unix.OpenTree(int(src.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
		src.Close()
		if err != nil {
			return fmt.Errorf("mount %s: %w", m.Source, err)
		}
		trees = append(trees, fd)
		// A clone of a shared mount is a peer of it (most hosts' mounts are
		// shared): what is then mounted beneath it in the container (the
		// agent's git folder over .git) would appear on the host too, and
		// stay. Private, as Podman's own binds are.
		attr := unix.MountAttr{Propagation: unix.MS_PRIVATE}
		if m.ReadOnly {
			attr.Attr_set = unix.MOUNT_ATTR_RDONLY
		}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("mount %s private (read-only: %v): %w", m.Source, m.ReadOnly, err)
		}
	}
	done := make(chan error, 1)
	go func() {
		// This thread alone enters the container's namespace; it is never
		// handed back to the runtime, which ends it with the goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			done <- fmt.Errorf("unshare: %w", err)
			return
		}
		if err := unix.Setns(int(init.Fd()), unix.CLONE_NEWNS); err != nil {
			done <- fmt.Errorf("enter the container's mount namespace: %w", err)
			return
		}
		for i, m := range ms {
			how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
			t, err := unix.Openat2(unix.AT_FDCWD, m.Target, &how)
			if err != nil {
				done <- fmt.Errorf("mount %s at %s: %w", m.Source, m.Target, err)
				return
			}
			err = unix.MoveMount(trees[i], "", t, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
			unix.Close(t)
			if err != nil {
				done <- fmt.Errorf("mount %s at %s: %w", m.Source, m.Target, err)
				return
			}
		}
		done <- nil
	}()
	return <-done
}

// openSource opens a mount's source through internal/beneath, following
// no link: one beneath the workspace ws (its root compared with what was
// recorded, when the plan says) is found beneath it; any other (the
// agent's git folder, in the bottle's own) by its path, not followed if it
// is a link itself. It must be the entry the start recorded (a source with
// no record is refused).
func openSource(ws beneath.Dir, m spec.Mount) (*os.File, error) {
	if m.Expect == nil {
		return nil, errUnrecorded
	}
	var f *os.File
	var err error
	if rel, rerr := filepath.Rel(ws.Path(), m.Source); rerr == nil && filepath.IsLocal(rel) {
		f, err = ws.OpenPath(rel)
	} else {
		f, err = beneath.At(filepath.Dir(m.Source)).OpenPath(filepath.Base(m.Source))
	}
	if err != nil {
		return f, err
	}
	fi, err := f.Stat()
	if err == nil {
		if id, ok := beneath.IDOf(fi); !ok || id != (beneath.ID{Dev: m.Expect.Dev, Ino: m.Expect.Ino}) {
			err = beneath.ErrMoved
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
