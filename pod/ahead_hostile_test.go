package pod

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/hostiletest"
	"github.com/bottle-sandbox/bottle/spec"
	"golang.org/x/sys/unix"
)

// inUserNS marks the test process run again in a user and mount
// namespace of its own, where an unprivileged user may mount.
const inUserNS = "BOTTLE_TEST_IN_USERNS"

// TestGoAheadFollowsNoLinkItFinds runs the hostile-tree harness on a
// rootful go-ahead: the engine has mounted, by path, what lies outside the
// workspace (the workspace's object folder at its own path, a worktree's
// main repository's object folders, which another bottle's workspace may
// hold, the agent's home and CA, a sidecar's folder and file); the
// go-ahead checks those and mounts the workspace, the agent's git folder
// over its .git and a nested repository's git folder itself (mountInto).
// Each mount is recorded on the fixture as it was made, then links and
// swaps are planted at every path of every source below a folder a
// bottle can write: no mount may come from what a link names, and a
// go-ahead that goes on leaves at each target the entry recorded.
// Mounting takes CAP_SYS_ADMIN: an unprivileged run goes on in a user
// namespace of its own (unshare -Urm).
func TestGoAheadFollowsNoLinkItFinds(t *testing.T) {
	runHostileGoAhead(t, "TestGoAheadFollowsNoLinkItFinds", true)
}

// TestCheckMountsFollowsNoLinkItFinds is the same on a rootless go-ahead:
// the engine mounted everything by path, the workspace too, and the
// go-ahead compares every target with the record (checkMounts).
func TestCheckMountsFollowsNoLinkItFinds(t *testing.T) {
	runHostileGoAhead(t, "TestCheckMountsFollowsNoLinkItFinds", false)
}

func runHostileGoAhead(t *testing.T, name string, rootful bool) {
	if ranInUserNS(t, name) {
		return
	}
	base := t.TempDir()
	n := 0
	hostiletest.Run(t, func(t *testing.T) *hostiletest.Fixture {
		n++
		g := newGoAheadFixture(t, filepath.Join(base, fmt.Sprint(n)))
		var mounted []string
		fx := g.fx
		fx.Mounts = func() []string { return mounted }
		fx.Step = func() error {
			var err error
			mounted, err = goAheadInto(t, g.mounts, rootful)
			return err
		}
		return fx
	})
}

// ranInUserNS runs the test name again in a user and mount namespace of
// its own (unshare -Urm) when this process may not mount, and says
// whether it did (its result is then this test's).
func ranInUserNS(t *testing.T, name string) bool {
	t.Helper()
	if os.Geteuid() == 0 || os.Getenv(inUserNS) != "" {
		return false
	}
	cmd := exec.Command("unshare", "-Urm", os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), inUserNS+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a user namespace of its own:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("%s, run unprivileged in a user namespace (unshare -Urm): %v", name, err)
	}
	return true
}

// goAheadFixture is a fresh tree: a bind workspace with its git folder and
// a nested repository, a worktree's main repository with two object
// folders, the bottle's own folder with the agent's git folder, home and
// CA file and a sidecar's folder; the mounts of all of them, recorded.
type goAheadFixture struct {
	fx     *hostiletest.Fixture
	mounts []spec.Mount
}

func newGoAheadFixture(t *testing.T, dir string) *goAheadFixture {
	t.Helper()
	ws, main, state := filepath.Join(dir, "work"), filepath.Join(dir, "main"), filepath.Join(dir, "state")
	target, ctr := filepath.Join(dir, "target"), filepath.Join(dir, "ctr")
	egressDir := filepath.Join(state, "egress")
	for _, d := range []string{filepath.Join(ws, ".git", "objects"), filepath.Join(ws, "vendor", "lib", ".git"),
		filepath.Join(main, ".git", "objects", "info"), filepath.Join(main, "shared", "objects"),
		filepath.Join(state, "agent", "git"), filepath.Join(state, "agent", "home"), filepath.Join(egressDir, "policy"), target, ctr} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(ws, "main.go"), []byte("package main\n"), 0o644)
	os.WriteFile(filepath.Join(ws, "vendor", "lib", ".git", "config"), []byte("[core]\n"), 0o644)
	os.WriteFile(filepath.Join(main, ".git", "objects", "info", "alternates"), []byte("../../shared/objects\n"), 0o644)
	os.WriteFile(filepath.Join(state, "agent", "ca.pem"), []byte("CA\n"), 0o644)
	os.WriteFile(filepath.Join(egressDir, "secrets.json"), []byte("{}\n"), 0o600)
	outside, login := hostiletest.NewOutside(t, dir)
	secrets, own := filepath.Join(state, "secrets.json"), filepath.Join(state, "own")
	os.WriteFile(secrets, []byte(hostiletest.Marker+"-secrets"), 0o600)
	os.WriteFile(own, []byte(hostiletest.Marker+"-own"), 0o600)
	var ms []spec.Mount
	add := func(src, tgt string, ro bool) {
		fi, err := os.Lstat(src)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() {
			if err := os.WriteFile(tgt, nil, 0o644); err != nil { // a file's target is a file
				t.Fatal(err)
			}
		} else if err := os.MkdirAll(tgt, 0o755); err != nil {
			t.Fatal(err)
		}
		id, _ := beneath.IDOf(fi)
		ms = append(ms, spec.Mount{Source: src, Target: tgt, ReadOnly: ro, Expect: &spec.FileID{Dev: id.Dev, Ino: id.Ino}})
	}
	// The plan's order: the workspace first, then what lies beneath it.
	add(ws, target, false)
	add(filepath.Join(state, "agent", "home"), filepath.Join(ctr, "home"), false)
	add(filepath.Join(state, "agent", "ca.pem"), filepath.Join(ctr, "ca.pem"), true)
	add(filepath.Join(state, "agent", "git"), filepath.Join(target, ".git"), false)
	add(filepath.Join(ws, ".git", "objects"), filepath.Join(ctr, "objects"), true)
	add(filepath.Join(main, ".git", "objects"), filepath.Join(ctr, "main-objects"), true)
	add(filepath.Join(main, "shared", "objects"), filepath.Join(ctr, "shared-objects"), true)
	add(filepath.Join(ws, "vendor", "lib", ".git"), filepath.Join(target, "vendor", "lib", ".git"), true)
	add(filepath.Join(egressDir, "policy"), filepath.Join(ctr, "policy"), true)
	add(filepath.Join(egressDir, "secrets.json"), filepath.Join(ctr, "secrets.json"), true)
	var sources []string
	for _, m := range ms {
		sources = append(sources, m.Source)
	}
	return &goAheadFixture{
		fx: &hostiletest.Fixture{
			// The workspace, a repository another bottle's workspace may
			// hold, and a sidecar's folder.
			Hostile: []string{ws, main, egressDir},
			Outside: outside, Login: login, Secrets: secrets, Own: own,
			Scan:  []string{ws, main, egressDir},
			Paths: sources, // the engine mounts them by path, out of internal/beneath's sight
		},
		mounts: ms,
	}
}

// mountPoints are the mount points of process pid's mount namespace.
func mountPoints(t *testing.T, pid int) map[string]bool {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	points := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 {
			points[fields[4]] = true
		}
	}
	return points
}

// goAheadInto plays a go-ahead in the mount namespace of a process
// started for it: the engine's part first, each of its mounts made by
// path, following links as an engine does (rootful: those outside the
// workspace; rootless: all), then bottle's (checkMounts, and rootful
// mountInto). It returns the sources of the mounts the agent would have:
// those mountInto made, and the engine's if the go-ahead went on.
func goAheadInto(t *testing.T, ms []spec.Mount, rootful bool) ([]string, error) {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS} // and made private by Go
	if err := cmd.Start(); err != nil {
		t.Fatalf("a process in a mount namespace of its own: %v", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	pid := cmd.Process.Pid
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	init := os.NewFile(uintptr(fd), "pidfd")
	defer init.Close()
	ct := spec.Container{WorkDir: ms[0].Target, Mounts: ms}
	byEngine, late := lateMounts(ct)
	if !rootful {
		byEngine, late = ms, nil
	}
	if err := engineMounts(init, byEngine); err != nil {
		return nil, err // the engine could not start the container
	}
	before := mountPoints(t, pid)
	err = aheadMounts(init, pid, ct, nil, !rootful)
	var mounted []string
	for p := range mountPoints(t, pid) {
		if before[p] {
			continue
		}
		i := slices.IndexFunc(late, func(m spec.Mount) bool { return m.Target == p })
		if i < 0 {
			t.Errorf("the go-ahead mounted something at %s, which is no target of %v: it followed a link", p, late)
			continue
		}
		mounted = append(mounted, late[i].Source)
	}
	if err != nil {
		return mounted, err
	}
	// The agent would run now: at every target, the entry recorded.
	for _, m := range ms {
		fi, serr := os.Stat(fmt.Sprintf("/proc/%d/root%s", pid, m.Target))
		if serr != nil {
			t.Errorf("the go-ahead went on, and %s is not there: %v", m.Target, serr)
			continue
		}
		if id, _ := beneath.IDOf(fi); id != (beneath.ID{Dev: m.Expect.Dev, Ino: m.Expect.Ino}) {
			t.Errorf("the go-ahead went on with another entry than %s's recorded one at %s", m.Source, m.Target)
		}
		var stx unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, fmt.Sprintf("/proc/%d/root%s", pid, m.Target), 0, unix.STATX_TYPE, &stx); err != nil || stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0 {
			t.Errorf("the go-ahead went on with no mount at %s (%v): %s is seen there through another", m.Target, err, m.Source)
		}
	}
	for _, m := range byEngine {
		mounted = append(mounted, m.Source)
	}
	return mounted, nil
}

// engineMounts mounts ms in the mount namespace of the process init (a
// pidfd) as an engine does: by path, following links, recursively, and
// read-only where the plan says.
func engineMounts(init *os.File, ms []spec.Mount) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never handed back: it ends with the goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			done <- err
			return
		}
		if err := unix.Setns(int(init.Fd()), unix.CLONE_NEWNS); err != nil {
			done <- err
			return
		}
		for _, m := range ms {
			if err := unix.Mount(m.Source, m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				done <- fmt.Errorf("the engine: mount %s at %s: %w", m.Source, m.Target, err)
				return
			}
			if !m.ReadOnly {
				continue
			}
			if err := unix.Mount("", m.Target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
				done <- fmt.Errorf("the engine: mount %s at %s read-only: %w", m.Source, m.Target, err)
				return
			}
		}
		done <- nil
	}()
	return <-done
}
