package beneath

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// fixture is a root with a tree in it and, outside, a sentinel file and
// folder that nothing done beneath the root may read, write or change.
type fixture struct {
	root, outside, sentinel string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	base := t.TempDir()
	f := fixture{root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	f.sentinel = filepath.Join(f.outside, "secret")
	for _, d := range []string{f.root, filepath.Join(f.root, "a", "b"), f.outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(f.sentinel, []byte("SENTINEL"), 0o600)
	os.WriteFile(filepath.Join(f.root, "a", "b", "f"), []byte("inside"), 0o644)
	return f
}

func (f fixture) check(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(f.sentinel)
	if err != nil || string(data) != "SENTINEL" {
		t.Errorf("the sentinel changed: %q %v", data, err)
	}
	for _, p := range []string{f.sentinel, f.outside} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != map[string]os.FileMode{f.sentinel: 0o600, f.outside: 0o755}[p] {
			t.Errorf("%s: its mode changed: %v", p, fi)
		}
	}
	entries, _ := os.ReadDir(f.outside)
	if len(entries) != 1 {
		t.Errorf("something was made outside: %v", entries)
	}
}

// plants replaces the entry at rel below the root with each hostile thing.
func (f fixture) plants(rel string) map[string]func() {
	p := filepath.Join(f.root, rel)
	reset := func() { os.RemoveAll(p); os.MkdirAll(filepath.Dir(p), 0o755) }
	return map[string]func(){
		"absolute link to the sentinel": func() { reset(); os.Symlink(f.sentinel, p) },
		"relative link to the sentinel": func() {
			reset()
			r, _ := filepath.Rel(filepath.Dir(p), f.sentinel)
			os.Symlink(r, p)
		},
		"link to the outside folder": func() { reset(); os.Symlink(f.outside, p) },
		"link to /":                  func() { reset(); os.Symlink("/", p) },
		"a pipe":                     func() { reset(); syscall.Mkfifo(p, 0o644) },
	}
}

func TestNothingLeavesTheRoot(t *testing.T) {
	ops := map[string]func(d Dir, rel string) error{
		"read":  func(d Dir, rel string) error { _, err := d.ReadFile(rel); return err },
		"write": func(d Dir, rel string) error { return d.WriteFile(rel, []byte("x"), 0o644) },
		"write below": func(d Dir, rel string) error {
			return d.WriteFile(rel+"/new", []byte("x"), 0o644)
		},
		"mkdirall below": func(d Dir, rel string) error { return d.MkdirAll(rel+"/x/y", 0o755) },
		"chown":          func(d Dir, rel string) error { return d.Chown(rel, os.Getuid(), os.Getgid()) },
		"chown below":    func(d Dir, rel string) error { return d.Chown(rel+"/f", os.Getuid(), os.Getgid()) },
		"chmod":          func(d Dir, rel string) error { return d.Chmod(rel, 0o777) },
		"readdir":        func(d Dir, rel string) error { _, err := d.ReadDir(rel); return err },
		"removeall below": func(d Dir, rel string) error {
			return d.RemoveAll(rel + "/secret")
		},
		"removeall": func(d Dir, rel string) error { return d.RemoveAll(rel) },
		"copy out": func(d Dir, rel string) error {
			dst := At(t.TempDir())
			return CopyTree(d, rel, dst, "copy")
		},
	}
	for _, rel := range []string{"a", "a/b", "a/b/f"} {
		for plant := range newFixture(t).plants(rel) {
			for name, op := range ops {
				f := newFixture(t)
				f.plants(rel)[plant]()
				err := op(At(f.root), rel)
				f.check(t)
				if name == "read" && err == nil {
					t.Errorf("%s at %s (%s): read with no error", name, rel, plant)
				}
			}
		}
	}
}

func TestWriteReplacesALinkAndRefusesAFolder(t *testing.T) {
	f := newFixture(t)
	d := At(f.root)
	os.Symlink(f.sentinel, filepath.Join(f.root, "a", "l"))
	if err := d.WriteFile("a/l", []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(filepath.Join(f.root, "a", "l")); !fi.Mode().IsRegular() {
		t.Errorf("the link was not replaced by a file: %v", fi.Mode())
	}
	f.check(t)
	if err := d.WriteFile("a/b", []byte("x"), 0o600); !errors.Is(err, ErrType) {
		t.Errorf("writing over a folder: %v", err)
	}
	if _, err := d.ReadFile("a/b/../b/f"); err == nil {
		t.Error("a path with .. was taken")
	}
	if _, err := d.ReadFile("/etc/passwd"); err == nil {
		t.Error("an absolute path was taken")
	}
}

func TestLinkErrorsSayLink(t *testing.T) {
	f := newFixture(t)
	os.Symlink(f.outside, filepath.Join(f.root, "l"))
	d := At(f.root)
	for name, err := range map[string]error{
		"read through": func() error { _, err := d.ReadFile("l/secret"); return err }(),
		"read":         func() error { _, err := d.ReadFile("l"); return err }(),
		"mkdir":        d.MkdirAll("l/x", 0o755),
		"write":        d.WriteFile("l/x", nil, 0o644),
	} {
		if !errors.Is(err, ErrLink) || !strings.Contains(err.Error(), f.root) {
			t.Errorf("%s: %v, want ErrLink naming the path", name, err)
		}
	}
}

func TestFallbackWalkHoldsTheSameRule(t *testing.T) {
	noOpenat2.Store(true)
	defer noOpenat2.Store(false)
	TestNothingLeavesTheRoot(t)
	TestLinkErrorsSayLink(t)
	f := newFixture(t)
	if data, err := At(f.root).ReadFile("a/b/f"); err != nil || string(data) != "inside" {
		t.Errorf("fallback read: %q %v", data, err)
	}
}

func TestWalkAndCopy(t *testing.T) {
	f := newFixture(t)
	d := At(f.root)
	os.Symlink("/", filepath.Join(f.root, "a", "root"))
	var seen []string
	err := d.Walk(".", func(rel string, fi fs.FileInfo) error {
		seen = append(seen, rel)
		return nil
	})
	if err != nil || !slices.Equal(seen, []string{".", "a", "a/b", "a/b/f", "a/root"}) {
		t.Errorf("walk: %v %v", seen, err)
	}
	dst := At(t.TempDir())
	if err := CopyTree(d, "a", dst, "c"); err != nil {
		t.Fatal(err)
	}
	if l, err := dst.Readlink("c/root"); err != nil || l != "/" {
		t.Errorf("the link was not copied as a link: %q %v", l, err)
	}
	if data, err := dst.ReadFile("c/b/f"); err != nil || string(data) != "inside" {
		t.Errorf("copied file: %q %v", data, err)
	}
	sub := d.MustJoin("a")
	if fi, err := sub.Lstat("b/f"); err != nil || fi.Size() != 6 {
		t.Errorf("below a joined folder: %v %v", fi, err)
	}
	if err := d.Move("a", dst, "moved"); err != nil {
		t.Fatal(err)
	}
	if err := d.Move("a", dst, "moved"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("moving what is gone: %v", err)
	}
	os.MkdirAll(filepath.Join(f.root, "z"), 0o755)
	if err := d.Move("z", dst, "moved"); err == nil {
		t.Error("a move replaced what was there")
	}
}

func TestTraceSeesEveryPath(t *testing.T) {
	f := newFixture(t)
	var got []string
	stop := Trace(func(tc Touch) { got = append(got, tc.Op+" "+tc.Rel) })
	d := At(f.root)
	d.ReadFile("a/b/f")
	d.WriteFile("a/n", nil, 0o644)
	stop()
	d.ReadFile("a/b/f")
	if !slices.Equal(got, []string{"open a/b/f", "write a/n"}) {
		t.Errorf("traced %v", got)
	}
}

func TestMkdirAllReplacingTakesTheLinksPlace(t *testing.T) {
	f := newFixture(t)
	os.Symlink(f.outside, filepath.Join(f.root, "a", "l"))
	os.WriteFile(filepath.Join(f.root, "a", "file"), nil, 0o644)
	d := At(f.root)
	for _, rel := range []string{"a/l/x", "a/file/y"} {
		if err := d.MkdirAllReplacing(rel, 0o700); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(filepath.Join(f.root, rel)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v %v", rel, fi, err)
		}
	}
	f.check(t)
}

// TestOpenPathFollowsNoLink: a mount's source opened by OpenPath is the
// entry beneath the root or nothing; a link at rel, or on the way, is
// refused (O_PATH|O_NOFOLLOW alone would hand back the link itself), and
// so is a root that is not the folder Expect names.
func TestOpenPathFollowsNoLink(t *testing.T) {
	f := newFixture(t)
	d := At(f.root)
	for _, rel := range []string{".", "a", "a/b", "a/b/f"} {
		h, err := d.OpenPath(rel)
		if err != nil {
			t.Fatalf("OpenPath(%s): %v", rel, err)
		}
		h.Close()
	}
	for _, rel := range []string{"a/b/f", "a/b", "a"} {
		for name, plant := range f.plants(rel) {
			plant()
			h, err := d.OpenPath("a/b/f")
			if h != nil {
				h.Close()
			}
			if name != "a pipe" && !errors.Is(err, ErrLink) {
				t.Errorf("%s at %s: OpenPath(a/b/f) = %v, want a link refused", name, rel, err)
			}
		}
		os.RemoveAll(filepath.Join(f.root, "a"))
		os.MkdirAll(filepath.Join(f.root, "a", "b"), 0o755)
		os.WriteFile(filepath.Join(f.root, "a", "b", "f"), []byte("inside"), 0o644)
	}
	fi, err := os.Stat(f.root)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := IDOf(fi)
	if h, err := d.Expect(id).OpenPath("."); err != nil {
		t.Fatalf("the recorded root: %v", err)
	} else {
		h.Close()
	}
	os.Rename(f.root, f.root+".was")
	os.MkdirAll(f.root, 0o755)
	if _, err := d.Expect(id).OpenPath("."); !errors.Is(err, ErrMoved) {
		t.Errorf("a root swapped for another folder: OpenPath = %v, want ErrMoved", err)
	}
	f.check(t)
}
