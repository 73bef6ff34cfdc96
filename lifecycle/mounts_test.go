package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/spec"
)

// A mount's source in the working directory is never reached through a
// link: Podman would follow it and mount what it names.
func TestMountsBeneathTheWorkdirFollowNoLink(t *testing.T) {
	wd := t.TempDir()
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(wd, "vendor", "lib", ".git"), 0o755)
	os.Symlink(outside, filepath.Join(wd, "linked"))
	os.MkdirAll(filepath.Join(wd, "v2"), 0o755)
	os.Symlink(outside, filepath.Join(wd, "v2", ".git"))
	plan := func(src string) *spec.Plan {
		return &spec.Plan{Containers: []spec.Container{{Mounts: []spec.Mount{{Source: wd}, {Source: "/elsewhere"}, {Source: src}}}}}
	}
	if err := mountsBeneath(plan(filepath.Join(wd, "vendor", "lib", ".git")), beneath.At(wd)); err != nil {
		t.Errorf("a real folder: %v", err)
	}
	for _, src := range []string{filepath.Join(wd, "linked", ".git"), filepath.Join(wd, "v2", ".git")} {
		if err := mountsBeneath(plan(src), beneath.At(wd)); !errors.Is(err, beneath.ErrLink) {
			t.Errorf("%s: %v, want a link refused", src, err)
		}
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
