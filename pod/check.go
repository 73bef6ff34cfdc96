package pod

import (
	"fmt"
	"os"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/spec"

	"golang.org/x/sys/unix"
)

// checkMounts compares what the container of the process init (a pidfd
// of pid) has at each of ms's targets (the workspace first) with its
// source: what the start recorded of it (its device and inode) or, where
// it recorded nothing, the source as the host has it now, opened as
// mountInto opens it (beneath the workspace following no link); each
// target resolved in the container's root following no link. The engine
// mounted each by its path when it started the container, and whoever
// could rename a folder on either path meanwhile could have put another
// there (or a link to one of the host's), or led the mount elsewhere in
// the container and left the host's own folder at its target (the
// repository's .git, which the agent's own covers).
func checkMounts(init *os.File, pid int, ms []spec.Mount) error {
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("the agent's container's root: %w", err)
	}
	defer unix.Close(root)
	// The process held pid when its root was opened: it is alive now.
	if err := unix.PidfdSendSignal(int(init.Fd()), 0, nil, 0); err != nil {
		return fmt.Errorf("the agent's container's root: its process %d: %w", pid, err)
	}
	ws := beneath.At(ms[0].Source)
	if e := ms[0].Expect; e != nil {
		ws = ws.Expect(beneath.ID{Dev: e.Dev, Ino: e.Ino})
	}
	for _, m := range ms {
		want, err := sourceID(ws, m)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Source, err)
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
		if uint64(st.Dev) != want.Dev || uint64(st.Ino) != want.Ino {
			return fmt.Errorf("%s: %w", m.Source, beneath.ErrMoved)
		}
	}
	return nil
}

// sourceID is what m's source must be: what the start recorded, else the
// source now, opened as mountInto opens it.
func sourceID(ws beneath.Dir, m spec.Mount) (beneath.ID, error) {
	if e := m.Expect; e != nil {
		return beneath.ID{Dev: e.Dev, Ino: e.Ino}, nil
	}
	f, err := openSource(ws, m)
	if err != nil {
		return beneath.ID{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return beneath.ID{}, err
	}
	id, ok := beneath.IDOf(fi)
	if !ok {
		return beneath.ID{}, fmt.Errorf("no device and inode")
	}
	return id, nil
}
