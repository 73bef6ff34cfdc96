//go:build e2e

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A worktree's object folder is mounted at its own host path, read-only,
// into the agent's container (and the git gate's): it lies outside the
// working directory, in the main repository the person's config names.
// Whoever can rename a folder on its path (a bottle whose bind workspace
// holds the main repository, or the person's own tools) can put a link
// there between the start's checks and the engine's mount, and the engine,
// mounting by path, follows it: the agent then reads a host folder it was
// never given (here a stand-in for the person's ~/.ssh). The start must
// refuse it, naming the object folder, before the agent's command runs.
// The swap is made while the agent's image builds (a step that sleeps,
// its output on the terminal), as in
// TestGoAheadRefusesAWorkspaceSwappedAfterItsRecord.
func TestGoAheadRefusesAnObjectFolderSwappedAfterItsRecord(t *testing.T) {
	testObjectFolderSwap(t, "", "", "the agent's container")
}

// runsc is started from the podman on PATH (see pod/conn.go's ForRuntime).
var _ = needs([]string{podmanService, hostPodman}, TestRunscStartRefusesAGateObjectFolderSwappedAfterItsRecord)

// Under gVisor no process of the host's sees the agent's mounts, and the
// agent gets the object folder the engine mounted (docs/warm.md says so);
// the git gate, which reads it at its own path too and alone carries the
// agent's pushes out, is checked before the agent starts, and the start
// is refused there.
func TestRunscStartRefusesAGateObjectFolderSwappedAfterItsRecord(t *testing.T) {
	testObjectFolderSwap(t, "runtime = \"runsc\"\n", "origin", "-git-gate")
}

// testObjectFolderSwap starts a bottle of profile extra on a worktree
// (whose main repository has remote, if not ""), swaps the main
// repository's object folder for a link to a folder of the person's while
// the agent's image builds, and wants the start refused by the container
// whose name holds refusedBy.
func testObjectFolderSwap(t *testing.T, extra, remote, refusedBy string) {
	nonce := fmt.Sprintf("objswap-%d", time.Now().UnixNano())
	// A profile of its own: the runc and runsc forms run at once, and each
	// removes its image at the end, never the other's.
	profile := fmt.Sprintf("swapped%d", time.Now().UnixNano()%1000000)
	e := newEnv(t, "\n[agents."+profile+"]\nextends = \"t\"\ncontainerfile = \"img/Containerfile\"\n"+extra)
	t.Cleanup(func() { // the image this test's nonce made
		ids, _ := exec.Command("podman", "images", "-q", "--filter", "reference=localhost/bottle-"+profile).Output()
		if ids := strings.Fields(string(ids)); len(ids) > 0 {
			exec.Command("podman", append([]string{"rmi", "-f"}, ids...)...).Run()
		}
	})
	os.MkdirAll(filepath.Join(e.dir, "img"), 0o755)
	os.WriteFile(filepath.Join(e.dir, "img", "Containerfile"), []byte("FROM "+baseImage()+"\nRUN echo "+nonce+" && sleep 5\n"), 0o644)

	main := filepath.Join(e.dir, "main")
	os.MkdirAll(main, 0o755)
	hostGit(t, main, "init", "-q")
	os.WriteFile(filepath.Join(main, "file"), []byte("one\n"), 0o644)
	hostGit(t, main, "add", "file")
	hostGit(t, main, "commit", "-qm", "first")
	if remote != "" {
		up := filepath.Join(t.TempDir(), "app.git")
		upstreamRepo(t, up)
		hostGit(t, main, "remote", "add", remote, up) // a local path: held in the gate
	}
	os.Remove(e.workdir)
	hostGit(t, main, "worktree", "add", "-q", e.workdir, "-b", "wt")
	e.trustRepository(main)
	chownToOwner(t, e, main)
	chownToOwner(t, e, e.workdir)
	objects := filepath.Join(main, ".git", "objects")
	// The person's folder the agent was never given.
	secret := filepath.Join(e.dir, "person-ssh")
	os.MkdirAll(secret, 0o755)
	os.WriteFile(filepath.Join(secret, "id_ed25519-sentinel"), []byte("PRIVATE KEY\n"), 0o644)
	chownToOwner(t, e, secret)

	term := newTerminal(t, e, 250, 50, "start", "--yes", profile, "--", "-c",
		"ls "+objects+" > /workspace/seen; echo agent-ran")
	term.tmux("set-option", "-t", term.session, "remain-on-exit", "on")
	term.waitFor("the agent's image building", nonce)

	// The swap, between the start's record and the engine's mount.
	if err := os.Rename(objects, objects+".recorded"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, objects); err != nil {
		t.Fatal(err)
	}

	exit := filepath.Join(e.dir, "terminal-exit")
	poll(t, 3*time.Minute, "the start to end", func() bool {
		data, err := os.ReadFile(exit)
		return err == nil && strings.TrimSpace(string(data)) != ""
	})
	code, _ := os.ReadFile(exit)
	screen := term.tmux("capture-pane", "-p", "-J", "-t", term.session) // wrapped lines joined
	t.Logf("exit %s\n%s", code, screen)
	if seen, err := os.ReadFile(filepath.Join(e.workdir, "seen")); err == nil {
		if strings.Contains(string(seen), "sentinel") {
			t.Errorf("the agent read the person's folder through the swapped object folder: it listed %q", seen)
		} else {
			t.Errorf("the agent ran after the swap: it listed %q", seen)
		}
	}
	refused := false
	for _, line := range strings.Split(screen, "\n") {
		refused = refused || strings.Contains(line, refusedBy) && strings.Contains(line, objects) && strings.Contains(line, "moved or replaced")
	}
	if strings.TrimSpace(string(code)) == "0" || !refused {
		t.Errorf("the start with its object folder swapped before its go-ahead was not refused (%s) as moved or replaced, naming %s: exit %s", refusedBy, objects, code)
	}
	// Put back, so the teardown's settle finds the repository as it was.
	os.Remove(objects)
	os.Rename(objects+".recorded", objects)
	e.awaitTeardowns()
	e.assertClean()
}
