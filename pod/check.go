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

// checkMounts compares what the container of the process init (a pidfd
// of pid) has at each of ms's targets with what the start recorded of its
// source (spec.Mount.Expect: its device and inode; a mount with no record
// is refused), each target resolved in the container's root following no
// link. The engine mounted each by its path when it started the
// container, and whoever could rename a folder on either path meanwhile
// could have put another there (or a link to one of the host's: the
// person's ~/.ssh where a worktree's object folder was), or led the mount
// elsewhere in the container and left the host's own folder at its target
// (the repository's .git, which the agent's own covers).
func checkMounts(init *os.File, pid int, ms []spec.Mount) error {
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("its root: %w", err)
	}
	defer unix.Close(root)
	// The process held pid when its root was opened: it is alive now.
	if err := unix.PidfdSendSignal(int(init.Fd()), 0, nil, 0); err != nil {
		return fmt.Errorf("its root: its process %d: %w", pid, err)
	}
	for _, m := range ms {
		if m.Expect == nil {
			return fmt.Errorf("%s at %s: %w", m.Source, m.Target, errUnrecorded)
		}
		how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
		fd, err := unix.Openat2(root, strings.TrimPrefix(m.Target, "/"), &how)
		if err != nil {
			return fmt.Errorf("%s at %s: %w", m.Source, m.Target, err)
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("%s at %s: %w", m.Source, m.Target, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			// No mount is there (one never stands on a link; O_PATH with
			// O_NOFOLLOW opened the link itself), whatever its inode: a
			// freed one is soon given again.
			return fmt.Errorf("%s at %s: %w", m.Source, m.Target, beneath.ErrLink)
		}
		if uint64(st.Dev) != m.Expect.Dev || uint64(st.Ino) != m.Expect.Ino {
			return fmt.Errorf("%s at %s: %w", m.Source, m.Target, beneath.ErrMoved)
		}
	}
	return nil
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
