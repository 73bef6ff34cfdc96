package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/workspace"
	"github.com/bottle-sandbox/bottle/spec"
)

// Every mount's source is recorded (device and inode) opened beneath the
// folder it lies in, following no link: a link in the working directory
// (Podman would follow it and mount what it names), in the bottle's own
// folder or at a host path the plan names is refused, not recorded.
func TestRecordMountsFollowsNoLink(t *testing.T) {
	wd, own, outside := t.TempDir(), t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(wd, "vendor", "lib", ".git"), 0o755)
	os.Symlink(outside, filepath.Join(wd, "linked"))
	os.MkdirAll(filepath.Join(wd, "v2"), 0o755)
	os.Symlink(outside, filepath.Join(wd, "v2", ".git"))
	os.MkdirAll(filepath.Join(own, "agent", "home"), 0o755)
	os.Symlink(outside, filepath.Join(own, "agent", "linked"))
	os.WriteFile(filepath.Join(outside, "login.json"), nil, 0o600)
	os.Symlink(filepath.Join(outside, "login.json"), filepath.Join(outside, "linked.json"))
	ws := &workspace.Record{Dir: wd, Roots: []string{wd}}
	plan := func(src string) *spec.Plan {
		return &spec.Plan{Containers: []spec.Container{{Mounts: []spec.Mount{{Source: wd}, {Source: filepath.Join(own, "agent", "home")}, {Source: src}}}}}
	}
	p := plan(filepath.Join(wd, "vendor", "lib", ".git"))
	if err := recordMounts(p, ws, own); err != nil {
		t.Fatalf("real folders: %v", err)
	}
	for _, m := range p.Containers[0].Mounts {
		fi, _ := os.Lstat(m.Source)
		id, _ := beneath.IDOf(fi)
		if m.Expect == nil || *m.Expect != (spec.FileID{Dev: id.Dev, Ino: id.Ino}) {
			t.Errorf("%s: recorded %v, is %v", m.Source, m.Expect, id)
		}
	}
	if err := recordMounts(plan(filepath.Join(outside, "login.json")), ws, own); err != nil {
		t.Errorf("a host file the plan names: %v", err)
	}
	for _, src := range []string{filepath.Join(wd, "linked", ".git"), filepath.Join(wd, "v2", ".git"),
		filepath.Join(own, "agent", "linked", "home"), filepath.Join(outside, "linked.json")} {
		if err := recordMounts(plan(src), ws, own); !errors.Is(err, beneath.ErrLink) {
			t.Errorf("%s: %v, want a link refused", src, err)
		}
	}
	// A source the bottle recorded before (the workspace at its first
	// start) must still be that entry.
	p = plan(filepath.Join(wd, "vendor", "lib", ".git"))
	p.Containers[0].Mounts[2].Expect = &spec.FileID{Dev: 1, Ino: 1}
	if err := recordMounts(p, ws, own); !errors.Is(err, beneath.ErrMoved) {
		t.Errorf("a nested repository swapped since its record: %v, want it refused as moved", err)
	}
}

// A bind start waits for no one, and runs beside no bottle whose agent
// could swap its working directory's folders: one running in the same
// folder, or in a folder over or under it, is refused. Found by an attack
// on issue 19's change: a second bottle's agent swapped a nested
// repository's mount source for a link between the first's check and its
// mount, and replaced the first's working directory by a link.
func TestBindStartsAloneInTheirFolder(t *testing.T) {
	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
	start := func(workdir string) error {
		l := &Launch{Agent: w.agent, Workdir: workdir, Yes: true, DryRun: true, ShowPreflight: noPreflight}
		return l.Run(context.Background(), w.env)
	}
	if err := start(w.workdir); err != nil {
		t.Fatalf("beside a kept bottle that does not run: %v", err)
	}
	w.eng.pods = []spec.PodInfo{podInfo(w.b.ID, "Running", "running")}
	for _, wd := range []string{w.workdir, filepath.Join(w.workdir, "vendor"), filepath.Dir(w.workdir)} {
		if err := start(wd); err == nil || !strings.Contains(err.Error(), w.b.ID) || !strings.Contains(err.Error(), "runs") {
			t.Errorf("%s, beside a running bottle in %s: %v", wd, w.workdir, err)
		}
	}
	other := filepath.Join(filepath.Dir(w.workdir), "elsewhere")
	os.MkdirAll(other, 0o755)
	if os.Getuid() == 0 {
		os.Chown(other, 1000, 1000)
	}
	if err := start(other); err != nil {
		t.Errorf("a folder of its own: %v", err)
	}
}
