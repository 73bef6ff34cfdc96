package pod

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/spec"
)

// TestOpenSourceRefusesWhatIsNotRecorded: the go-ahead's sources are the
// entries the start recorded, found following no link: a workspace or a
// nested repository's git folder swapped for another after the record is
// refused, and so is a link the agent left where a source was.
func TestOpenSourceRefusesWhatIsNotRecorded(t *testing.T) {
	base := t.TempDir()
	ws := filepath.Join(base, "work")
	nested := filepath.Join(ws, "vendor", "lib", ".git")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	idOf := func(p string) *spec.FileID {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := beneath.IDOf(fi)
		return &spec.FileID{Dev: id.Dev, Ino: id.Ino}
	}
	wsMount := spec.Mount{Source: ws, Target: "/workspace", Expect: idOf(ws)}
	nestedMount := spec.Mount{Source: nested, Target: "/workspace/vendor/lib/.git", ReadOnly: true, Expect: idOf(nested)}
	open := func(m spec.Mount) error {
		d := beneath.At(ws).Expect(beneath.ID{Dev: wsMount.Expect.Dev, Ino: wsMount.Expect.Ino})
		f, err := openSource(d, m)
		if err == nil {
			f.Close()
		}
		return err
	}
	for _, m := range []spec.Mount{wsMount, nestedMount} {
		if err := open(m); err != nil {
			t.Fatalf("the recorded %s: %v", m.Source, err)
		}
	}

	// The nested git folder swapped for another folder, then for a link.
	os.Rename(nested, nested+".was")
	os.Mkdir(nested, 0o755)
	if err := open(nestedMount); !errors.Is(err, beneath.ErrMoved) {
		t.Errorf("a nested git folder swapped after the record: %v, want it refused as moved", err)
	}
	os.Remove(nested)
	os.Symlink("/", nested)
	if err := open(nestedMount); !errors.Is(err, beneath.ErrLink) {
		t.Errorf("a link where a nested git folder was: %v, want it refused as a link", err)
	}

	// The working directory itself swapped for another folder.
	os.Rename(ws, ws+".was")
	os.MkdirAll(nested, 0o755)
	for _, m := range []spec.Mount{wsMount, nestedMount} {
		if err := open(m); !errors.Is(err, beneath.ErrMoved) {
			t.Errorf("%s, its working directory swapped after the record: %v, want it refused as moved", m.Source, err)
		}
	}
}

// On rootless Podman the engine mounts the agent's git folder over the
// workspace's .git by its path when it starts the container; a link put
// at .git meanwhile (by a bottle whose workspace holds this one) leads
// that mount elsewhere in the container, and the host's own .git, put
// back, is then at /workspace/.git for the agent to write. The go-ahead
// must find at each target what the start recorded of its source, and
// refuse a mount the start recorded nothing of. A process in a mount
// namespace of its own stands for the container (its root is the host's),
// the engine's mounts made there by path: at the workspace's .git is the
// host's .git, not the agent's folder; and where nothing is mounted, the
// source seen there through another mount is not taken for a mount.
func TestCheckMountsRefusesWhatTheEngineLedElsewhere(t *testing.T) {
	if ranInUserNS(t, "TestCheckMountsRefusesWhatTheEngineLedElsewhere") {
		return
	}
	dir := t.TempDir()
	ws, agentGit := filepath.Join(dir, "work"), filepath.Join(dir, "state", "git")
	for _, d := range []string{filepath.Join(ws, ".git"), filepath.Join(ws, "sub"), agentGit} {
		if err := os.MkdirAll(d, 0o755); err != nil {
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
	pid, init := container(t)
	workspace := spec.Mount{Source: ws, Target: ws, Expect: recorded(ws)}
	sub := spec.Mount{Source: filepath.Join(ws, "sub"), Target: filepath.Join(ws, "sub"), ReadOnly: true, Expect: recorded(filepath.Join(ws, "sub"))}
	if err := checkMounts(init, pid, []spec.Mount{workspace, sub}); !errors.Is(err, errNotMounted) {
		t.Errorf("nothing mounted, each source seen at its target: %v, want it refused as no mount", err)
	}
	if err := engineMounts(init, []spec.Mount{workspace, sub}); err != nil {
		t.Fatal(err)
	}
	if err := checkMounts(init, pid, []spec.Mount{workspace, sub}); err != nil {
		t.Errorf("each target is its source: %v", err)
	}
	if err := checkMounts(init, pid, []spec.Mount{workspace, {Source: ws, Target: ws, ReadOnly: true, Expect: workspace.Expect}}); !errors.Is(err, errWritable) {
		t.Errorf("a mount the plan makes read-only, writable: %v, want it refused", err)
	}
	err := checkMounts(init, pid, []spec.Mount{workspace, {Source: agentGit, Target: filepath.Join(ws, ".git"), Expect: recorded(agentGit)}})
	if !errors.Is(err, beneath.ErrMoved) || !strings.Contains(err.Error(), agentGit) {
		t.Errorf("the host's .git at the target of the agent's git folder: %v, want it refused as moved, naming %s", err, agentGit)
	}
	sub.Expect = nil
	if err := checkMounts(init, pid, []spec.Mount{workspace, sub}); !errors.Is(err, errUnrecorded) {
		t.Errorf("a mount the start recorded nothing of: %v, want it refused", err)
	}
}
