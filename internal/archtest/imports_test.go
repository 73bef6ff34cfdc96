package archtest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/bottle-sandbox/bottle"

// engines are the libraries only one engine package may import, by engine.
var engines = map[string]string{
	"github.com/containers/podman/": module + "/pod",
	"k8s.io/client-go":              module + "/kube",
}

// engineFree are the packages that must link no engine at all, not even
// through another package: the plan, the profiles, the state, the sidecars.
var engineFree = []string{module + "/spec", module + "/config", module + "/state", module + "/sidecars", module + "/internal", module + "/lifecycle", module + "/agent",
	module + "/kube/inpod"} // what a cluster bottle's pod runs, from the sidecar binary

type pkg struct{ imports, deps []string }

// list reads every package of the module: what it imports and all it links.
func list(t *testing.T) map[string]pkg {
	t.Helper()
	touchSources(t)
	cmd := exec.Command("go", "list", "-tags", "remote exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper containers_image_openpgp e2e",
		"-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}`, module+"/...")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string]pkg{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		m[f[0]] = pkg{strings.Fields(f[1]), strings.Fields(f[2])}
	}
	if len(m) < 10 {
		t.Fatalf("go list found only %d packages", len(m))
	}
	return m
}

// touchSources stats every Go file of the module, so that go test's cache,
// which knows only what the test itself reads, runs the test again when
// any of them changes.
func touchSources(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".go") {
			_, err = os.Stat(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func within(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }

// The import rules (ARCHITECTURE.md): only an engine imports its engine's
// libraries (Podman's bindings, client-go); the plan, config, state,
// sidecars and internal helpers link no engine at all; nothing imports the
// command.
func TestImportRules(t *testing.T) {
	for name, p := range list(t) {
		for _, d := range p.imports {
			for lib, owner := range engines {
				if strings.HasPrefix(d, lib) && !within(name, owner) {
					t.Errorf("%s imports %s: only %s may", name, d, owner)
				}
			}
			if within(d, module+"/cmd") {
				t.Errorf("%s imports the command %s", name, d)
			}
		}
		for _, free := range engineFree {
			if !within(name, free) {
				continue
			}
			for _, d := range p.deps {
				for lib := range engines {
					if strings.HasPrefix(d, lib) {
						t.Errorf("%s links the engine library %s", name, d)
					}
				}
				if within(d, module+"/pod") || (within(d, module+"/kube") && !within(d, module+"/kube/inpod")) {
					t.Errorf("%s links the engine %s", name, d)
				}
			}
		}
	}
}

// heavy are the libraries the sidecar binary must not link: the engines'
// and the image libraries' (their one small name parser aside), which make
// the bottle binary five times its size and twice its start.
var heavy = []string{"k8s.io/", "github.com/containers/podman/", "github.com/containers/common/", "github.com/containers/buildah/"}

// TestTheSidecarBinaryStaysSmall: what runs in the containers links none
// of the engines' libraries, no engine, no command, and of the image
// libraries only docker/reference (image names, which spec and config parse).
func TestTheSidecarBinaryStaysSmall(t *testing.T) {
	p, ok := list(t)[module+"/cmd/bottle-sidecar"]
	if !ok {
		t.Fatal("go list found no cmd/bottle-sidecar")
	}
	for _, d := range p.deps {
		bad := within(d, module+"/pod") || (within(d, module+"/kube") && !within(d, module+"/kube/inpod")) ||
			within(d, module+"/engines") || within(d, module+"/cmd/bottle") ||
			(within(d, "github.com/containers/image/v5") && d != "github.com/containers/image/v5/docker/reference")
		for _, h := range heavy {
			bad = bad || strings.HasPrefix(d, h)
		}
		if bad {
			t.Errorf("the sidecar binary links %s", d)
		}
	}
}
