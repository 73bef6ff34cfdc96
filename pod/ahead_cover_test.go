package pod

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/spec"
	"golang.org/x/sys/unix"
)

// A nested repository's git folder is mounted read-only over itself, in
// the workspace the agent writes: its source is in the workspace mount
// too, at the very target. So what is at that target tells nothing of
// whether the read-only mount is there: a bottle whose workspace holds
// this one (its own mount of the nested git folder read-only, but not of
// the folders above it) renames a folder on the target's path while the
// engine mounts (a link, or another folder with a .git in it), the mount
// lands elsewhere, the folder goes back, and the host's git folder is at
// its target, the right device and inode, writable: the agent writes its
// hooks, and the person's git runs them.

// coverFixture is a workspace holding a nested repository's git folder
// (vendor/lib/.git) and a submodule's .git file (vendor/mod/.git), and a
// folder of the same shape (fake: what the other bottle puts in vendor's
// place), the agent's git folder in the bottle's own, and the plan's
// mounts of them, recorded: the workspace, the agent's git folder over
// .git, the nested git folder and .git file read-only over themselves.
type coverFixture struct {
	ws, fake, vendor, nested, target string
	mounts                           []spec.Mount
}

func newCoverFixture(t *testing.T) *coverFixture {
	t.Helper()
	dir := t.TempDir()
	ws, agentGit, target := filepath.Join(dir, "work"), filepath.Join(dir, "state", "agent", "git"), filepath.Join(dir, "target")
	fx := &coverFixture{ws: ws, fake: filepath.Join(ws, "fake"), vendor: filepath.Join(ws, "vendor"),
		nested: filepath.Join(ws, "vendor", "lib", ".git"), target: target}
	for _, d := range []string{filepath.Join(ws, ".git"), filepath.Join(fx.nested, "hooks"), filepath.Join(fx.fake, "lib", ".git", "hooks"),
		filepath.Join(fx.vendor, "mod"), filepath.Join(fx.fake, "mod"), agentGit, target} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{fx.vendor, fx.fake} {
		if err := os.WriteFile(filepath.Join(d, "mod", ".git"), []byte("gitdir: ../../.git/modules/mod\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recorded := func(p string) *spec.FileID {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := beneath.IDOf(fi)
		return &spec.FileID{Dev: id.Dev, Ino: id.Ino}
	}
	fx.mounts = []spec.Mount{
		{Source: ws, Target: target, Expect: recorded(ws)},
		{Source: agentGit, Target: filepath.Join(target, ".git"), Expect: recorded(agentGit)},
		{Source: fx.nested, Target: filepath.Join(target, "vendor", "lib", ".git"), ReadOnly: true, Expect: recorded(fx.nested)},
		{Source: filepath.Join(fx.vendor, "mod", ".git"), Target: filepath.Join(target, "vendor", "mod", ".git"), ReadOnly: true, Expect: recorded(filepath.Join(fx.vendor, "mod", ".git"))},
	}
	return fx
}

// exchange swaps vendor and fake, as the other bottle does (one call: at
// every moment one of them is at vendor).
func (fx *coverFixture) exchange() error {
	return unix.Renameat2(unix.AT_FDCWD, fx.vendor, unix.AT_FDCWD, fx.fake, unix.RENAME_EXCHANGE)
}

// container is a process in a mount namespace of its own, standing for the
// agent's container (its root is the host's): its pid and a pidfd of it.
func container(t *testing.T) (int, *os.File) {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS} // and made private by Go
	if err := cmd.Start(); err != nil {
		t.Fatalf("a process in a mount namespace of its own: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	init := os.NewFile(uintptr(fd), "pidfd")
	t.Cleanup(func() { init.Close() })
	return cmd.Process.Pid, init
}

// agentWrites says whether the agent, in the container pid, can write the
// host's nested git folder (vendor back in its place): a hook there runs
// when the person's git does.
func (fx *coverFixture) agentWrites(t *testing.T, pid int) bool {
	t.Helper()
	hook := fmt.Sprintf("/proc/%d/root%s", pid, filepath.Join(fx.mounts[2].Target, "hooks", "post-checkout"))
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho agent\n"), 0o755); err != nil {
		return false
	}
	_, err := os.Stat(filepath.Join(fx.nested, "hooks", "post-checkout"))
	return err == nil
}

// On rootless Podman the engine mounts everything by path as it starts
// the agent's container, following links, target first, then source (runc
// resolves the target in the container's root, then mounts the source
// onto it). The other bottle leads the nested mount away: with a link in
// vendor's place (source and target then the fake's), or by swapping
// vendor for the fake between the engine's lookups of target and source
// (the host's git folder mounted read-only onto the fake's), and puts it
// back, or puts the fake back in vendor's place while the go-ahead looks.
// Each way, the go-ahead must refuse: the agent never runs with the host's
// nested git folder writable. Mounted where the plan puts them, it goes on.
func TestCheckMountsRefusesACoverLedOffItsPlace(t *testing.T) {
	if ranInUserNS(t, "TestCheckMountsRefusesACoverLedOffItsPlace") {
		return
	}
	for _, tc := range []struct {
		name string
		// engine mounts, led off as the other bottle leads it; atCheck is
		// what it does then, before the go-ahead looks.
		engine  func(t *testing.T, fx *coverFixture, init *os.File) error
		atCheck func(fx *coverFixture) error
		back    func(fx *coverFixture) error // vendor in its place again
		refused bool
	}{
		{
			name:    "the engine's mounts where the plan puts them",
			engine:  func(t *testing.T, fx *coverFixture, init *os.File) error { return engineMounts(init, fx.mounts) },
			atCheck: func(*coverFixture) error { return nil },
			back:    func(*coverFixture) error { return nil },
		},
		{
			name: "a link in vendor's place while the engine mounts, taken away before the go-ahead",
			engine: func(t *testing.T, fx *coverFixture, init *os.File) error {
				if err := os.Rename(fx.vendor, fx.vendor+".away"); err != nil {
					return err
				}
				if err := os.Symlink("fake", fx.vendor); err != nil {
					return err
				}
				err := engineMounts(init, fx.mounts)
				os.Remove(fx.vendor)
				return errors.Join(err, os.Rename(fx.vendor+".away", fx.vendor))
			},
			atCheck: func(*coverFixture) error { return nil },
			back:    func(*coverFixture) error { return nil },
			refused: true,
		},
		{
			name: "the target looked up with the fake in vendor's place, the source with vendor back; the fake there again while the go-ahead looks",
			engine: func(t *testing.T, fx *coverFixture, init *os.File) error {
				ms := append([]spec.Mount(nil), fx.mounts...)
				ms[2].Target = filepath.Join(fx.target, "fake", "lib", ".git") // where the fake's git folder is once swapped back
				return engineMounts(init, ms)
			},
			atCheck: (*coverFixture).exchange,
			back:    (*coverFixture).exchange,
			refused: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newCoverFixture(t)
			pid, init := container(t)
			if err := tc.engine(t, fx, init); err != nil {
				t.Fatalf("the engine: %v", err)
			}
			if err := tc.atCheck(fx); err != nil {
				t.Fatal(err)
			}
			ct := spec.Container{WorkDir: fx.target, Mounts: fx.mounts}
			err := aheadMounts(init, pid, ct, nil, true)
			if err := tc.back(fx); err != nil {
				t.Fatal(err)
			}
			switch {
			case !tc.refused && err != nil:
				t.Errorf("the go-ahead, every mount where the plan puts it: %v", err)
			case !tc.refused && fx.agentWrites(t, pid):
				t.Errorf("the go-ahead went on, and the agent writes the host's nested git folder")
			case !tc.refused:
			case err == nil:
				t.Errorf("the go-ahead went on with the nested git folder's read-only mount led elsewhere (the agent writes the host's: %v)", fx.agentWrites(t, pid))
			case !errors.Is(err, errNotMounted) && !errors.Is(err, beneath.ErrMoved):
				t.Errorf("refused, but not as a mount led elsewhere or a source moved: %v", err)
			}
		})
	}
}

// On rootful Podman bottle mounts the workspace itself (mountInto), then
// what lies beneath it, each target looked up by its path in the
// container, the workspace attached: a folder on that path the other
// bottle swaps meanwhile leads the read-only mount onto the fake's git
// folder. Here the other bottle swaps vendor and the fake over and over
// while the go-ahead runs, many times: a go-ahead that goes on must leave
// the host's nested git folder covered, read-only.
func TestGoAheadRefusesACoverLedOffItsPlace(t *testing.T) {
	if ranInUserNS(t, "TestGoAheadRefusesACoverLedOffItsPlace") {
		return
	}
	refused := 0
	for i := range 64 {
		fx := newCoverFixture(t)
		pid, init := container(t)
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			swapped := false
			for !stop.Load() || swapped {
				if err := fx.exchange(); err != nil {
					t.Error(err)
					return
				}
				swapped = !swapped
			}
		}()
		ct := spec.Container{WorkDir: fx.target, Mounts: fx.mounts}
		err := aheadMounts(init, pid, ct, nil, false)
		stop.Store(true)
		wg.Wait() // vendor in its place
		if err != nil {
			refused++
			continue
		}
		if fx.agentWrites(t, pid) {
			t.Fatalf("go-ahead %d went on with the nested git folder's read-only mount led elsewhere: the agent writes the host's", i)
		}
	}
	t.Logf("%d of 64 go-aheads refused while vendor was being swapped", refused)
}
