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

// Only a rootful engine gives its agent the workspace at a go-ahead.
var _ = needs([]string{podmanService}, TestGoAheadRefusesAWorkspaceSwappedAfterItsRecord)

// A start records its working directory (its device and inode) when it
// plans the bottle, and checks it again (mountsBeneath) before it builds
// the agent's image; on rootful Podman the workspace reaches the agent's
// container only at the go-ahead, after the build and the create, and on
// rootless Podman the engine mounts it by its path when it starts the
// container, after the build too. Whoever can rename the working
// directory meanwhile (another bottle whose bind workspace holds it) puts
// another folder at its path: the rootful go-ahead opened the workspace by
// path and mounted that one, read-write, in the agent's container, and
// rootless Podman mounted it and ran the agent there. It must refuse it,
// as not the folder recorded. The swap is made while the agent's image builds (a step that
// sleeps, its output on the terminal).
func TestGoAheadRefusesAWorkspaceSwappedAfterItsRecord(t *testing.T) {
	nonce := fmt.Sprintf("swap-%d", time.Now().UnixNano())
	e := newEnv(t, "\n[agents.swapped]\nextends = \"t\"\ncontainerfile = \"img/Containerfile\"\n")
	t.Cleanup(func() { // the image this test's nonce made
		ids, _ := exec.Command("podman", "images", "-q", "--filter", "reference=localhost/bottle-swapped").Output()
		if ids := strings.Fields(string(ids)); len(ids) > 0 {
			exec.Command("podman", append([]string{"rmi", "-f"}, ids...)...).Run()
		}
	})
	os.MkdirAll(filepath.Join(e.dir, "img"), 0o755)
	os.WriteFile(filepath.Join(e.dir, "img", "Containerfile"), []byte("FROM "+baseImage()+"\nRUN echo "+nonce+" && sleep 5\n"), 0o644)
	os.WriteFile(filepath.Join(e.workdir, "recorded"), []byte("the folder the start recorded\n"), 0o644)
	term := newTerminal(t, e, 160, 50, "start", "--yes", "swapped", "--", "-c", "ls /workspace > /workspace/seen; echo agent-ran")
	term.tmux("set-option", "-t", term.session, "remain-on-exit", "on")
	term.waitFor("the agent's image building", nonce)

	// The swap, between the last check and the go-ahead.
	if err := os.Rename(e.workdir, e.workdir+".recorded"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.workdir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(e.workdir, "swapped"), []byte("another folder\n"), 0o644)
	chownToOwner(t, e, e.workdir)

	exit := filepath.Join(e.dir, "terminal-exit")
	poll(t, 3*time.Minute, "the start to end", func() bool {
		data, err := os.ReadFile(exit)
		return err == nil && strings.TrimSpace(string(data)) != ""
	})
	code, _ := os.ReadFile(exit)
	screen := term.screen()
	t.Logf("exit %s\n%s", code, screen)
	for _, dir := range []string{e.workdir, e.workdir + ".recorded"} {
		if seen, err := os.ReadFile(filepath.Join(dir, "seen")); err == nil {
			t.Errorf("the agent ran in %s after the swap: it listed %q", dir, seen)
		}
	}
	if strings.TrimSpace(string(code)) == "0" || !strings.Contains(screen, "moved or replaced") {
		t.Errorf("the start with its working directory swapped before its go-ahead was not refused as moved or replaced: exit %s", code)
	}
	e.awaitTeardowns()
	e.assertClean()
}
