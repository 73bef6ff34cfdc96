package pod

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// TestGoAheadFollowsNoLinkItFinds runs the hostile-tree harness on the
// engine's go-ahead (mountInto): the workspace, the agent's git folder
// over its .git and a nested repository's git folder, mounted into the
// mount namespace of a process of the test's own, with links and swaps
// planted at every path of the workspace it opens; no mount may come
// from what a link names. Mounting takes CAP_SYS_ADMIN: an unprivileged
// run goes on in a user namespace of its own (unshare -Urm).
func TestGoAheadFollowsNoLinkItFinds(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv(inUserNS) == "" {
		cmd := exec.Command("unshare", "-Urm", os.Args[0], "-test.run=^TestGoAheadFollowsNoLinkItFinds$", "-test.v")
		cmd.Env = append(os.Environ(), inUserNS+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in a user namespace of its own:\n%s", out)
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("the go-ahead's harness, run unprivileged in a user namespace (unshare -Urm): %v", err)
		}
		return
	}
	base := t.TempDir()
	n := 0
	hostiletest.Run(t, func(t *testing.T) *hostiletest.Fixture {
		n++
		dir := filepath.Join(base, fmt.Sprint(n))
		ws, state, target := filepath.Join(dir, "work"), filepath.Join(dir, "state"), filepath.Join(dir, "target")
		for _, d := range []string{filepath.Join(ws, ".git"), filepath.Join(ws, "vendor", "lib", ".git"), filepath.Join(state, "agent", "git"), target} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(ws, "main.go"), []byte("package main\n"), 0o644)
		os.WriteFile(filepath.Join(ws, "vendor", "lib", ".git", "config"), []byte("[core]\n"), 0o644)
		outside, login := hostiletest.NewOutside(t, dir)
		secrets, own := filepath.Join(state, "secrets.json"), filepath.Join(state, "own")
		os.WriteFile(secrets, []byte(hostiletest.Marker+"-secrets"), 0o600)
		os.WriteFile(own, []byte(hostiletest.Marker+"-own"), 0o600)
		recorded := func(p string) *spec.FileID {
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := beneath.IDOf(fi)
			return &spec.FileID{Dev: id.Dev, Ino: id.Ino}
		}
		ms := []spec.Mount{
			{Source: ws, Target: target, Expect: recorded(ws)},
			{Source: filepath.Join(state, "agent", "git"), Target: filepath.Join(target, ".git")},
			{Source: filepath.Join(ws, "vendor", "lib", ".git"), Target: filepath.Join(target, "vendor", "lib", ".git"), ReadOnly: true,
				Expect: recorded(filepath.Join(ws, "vendor", "lib", ".git"))},
		}
		var mounted []string
		return &hostiletest.Fixture{
			Hostile: []string{ws},
			Outside: outside, Login: login, Secrets: secrets, Own: own,
			Scan:   []string{ws},
			Mounts: func() []string { return mounted },
			Step: func() error {
				var err error
				mounted, err = goAheadInto(t, ms)
				return err
			},
		}
	})
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

// goAheadInto runs mountInto for ms in the mount namespace of a process
// started for it, and returns the sources of the mounts that namespace
// then has at the targets.
func goAheadInto(t *testing.T, ms []spec.Mount) ([]string, error) {
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
	fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	init := os.NewFile(uintptr(fd), "pidfd")
	defer init.Close()
	before := mountPoints(t, cmd.Process.Pid)
	err = mountInto(init, ms)
	var mounted []string
	for p := range mountPoints(t, cmd.Process.Pid) {
		if before[p] {
			continue
		}
		found := false
		for _, m := range ms {
			if p == m.Target {
				mounted, found = append(mounted, m.Source), true
			}
		}
		if !found {
			t.Errorf("the go-ahead mounted something at %s, which is no target of %v: it followed a link", p, ms)
		}
	}
	return mounted, err
}
