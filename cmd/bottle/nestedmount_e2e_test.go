//go:build e2e

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The go-ahead finds a mount at each target beneath the workspace, in the
// folder the plan puts it in (pod/check.go): a nested repository's git
// folder and a submodule's .git file, each mounted read-only over itself,
// pass it as the engine (rootless) or bottle (rootful) mounts them, and the
// agent can write neither. The swaps that lead such a mount elsewhere are
// played in pod's unit harness (TestCheckMountsRefusesACoverLedOffItsPlace,
// TestGoAheadRefusesACoverLedOffItsPlace): an engine mounts in a moment no
// test can stand between.
func TestGoAheadFindsNestedGitMountsInTheirPlace(t *testing.T) {
	e := newEnv(t, "")
	lib := nestedWorkspace(t, e)
	mod := filepath.Join(e.workdir, "vendor", "mod")
	os.MkdirAll(mod, 0o755)
	os.WriteFile(filepath.Join(mod, ".git"), []byte("gitdir: ../../.git/modules/mod\n"), 0o644)
	chownToOwner(t, e, e.workdir)
	out, errs, code := e.run("start", "--yes", "t", "--", "-c", strings.Join([]string{
		"(echo x >> /workspace/vendor/lib/.git/config) 2>/dev/null && echo wrote-nested",
		"(echo x >> /workspace/vendor/mod/.git) 2>/dev/null && echo wrote-submodule",
		"echo agent-ran",
	}, "; "))
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if code != 0 || !strings.Contains(out, "agent-ran") {
		t.Fatalf("a start with a nested repository and a submodule's .git file did not run its agent: exit %d", code)
	}
	for _, w := range []string{"wrote-nested", "wrote-submodule"} {
		if strings.Contains(out, w) {
			t.Errorf("the agent %s: its read-only mount is not over it", w)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(lib, ".git", "config")); strings.HasSuffix(string(data), "x\n") {
		t.Errorf("the nested repository's config was written")
	}
}
