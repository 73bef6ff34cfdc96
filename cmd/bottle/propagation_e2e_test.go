//go:build e2e

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The service must see the tmpfs the test mounts: one in the test's own
// mount namespace (the Podman 5 phase's service has one of its own).
var _ = needs([]string{podmanService, rootfulPodman, hostPodman}, TestGoAheadMountsStayInTheContainerOnASharedHost)

// On most hosts (systemd's) every mount is shared: a mount made beneath a
// shared one reaches each of its peers. The go-ahead clones the workspace's
// tree from the host's namespace (open_tree), and a clone of a shared mount
// is a peer of it: what the go-ahead then mounts beneath the workspace in
// the container (the agent's git folder over .git, read-write) appeared on
// the host too, over the person's .git, and stayed there once the bottle
// was gone; the host's git then ran the hook the agent wrote. Podman's own
// binds are private. Here the working directory is a mount of its own,
// shared, as on such a host (this machine's are private).
func TestGoAheadMountsStayInTheContainerOnASharedHost(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "mode=0755", "bottle-e2e-shared", e.workdir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs at %s: %v: %s", e.workdir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-R", "-l", e.workdir).Run() })
	if out, err := exec.Command("mount", "--make-shared", e.workdir).CombinedOutput(); err != nil {
		t.Fatalf("make %s shared: %v: %s", e.workdir, err, out)
	}
	gitWorkspace(t, e)
	marks := e.markDir()
	out, errs, code := e.run("start", "--yes", "git", "--", strings.Join([]string{
		"cd /workspace",
		plantFSMonitor(".git/config", marks, "propagated"),
		"echo planted",
	}, "; "))
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try:\n%s", out)
	}
	e.awaitTeardowns()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, " "+e.workdir+"/") {
			t.Errorf("the bottle left a mount beneath its working directory on the host: %s", line)
		}
	}
	hostGitRunsNothing(t, e, e.workdir)
}
