package lifecycle

import (
	"errors"
	"os"
	"path/filepath"
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
	if err := mountsBeneath(plan(filepath.Join(wd, "vendor", "lib", ".git")), wd); err != nil {
		t.Errorf("a real folder: %v", err)
	}
	for _, src := range []string{filepath.Join(wd, "linked", ".git"), filepath.Join(wd, "v2", ".git")} {
		if err := mountsBeneath(plan(src), wd); !errors.Is(err, beneath.ErrLink) {
			t.Errorf("%s: %v, want a link refused", src, err)
		}
	}
}
