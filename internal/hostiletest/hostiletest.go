// Package hostiletest is the hostile-tree harness: it runs a host-side
// step once to learn every path it touches in folders a bottle can write
// (internal/beneath traces each), then again and again on fresh fixtures,
// each time with one of those paths (or a folder on the way to it)
// replaced by a link out (to a copy of the person's login, to the bottle's
// own secrets, to a folder outside, to /), by something of another type,
// or by another entry of the same type,
// and checks that nothing outside was read into a bottle, written,
// replaced or chowned, and that nothing outside was handed to an engine to
// mount. Tests only: no program links it.
package hostiletest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// Marker starts the content of every sentinel: no file of a bottle may
// hold it after a step.
const Marker = "HOSTILE-TREE-SENTINEL"

// Fixture is one fresh set of folders a step runs on.
type Fixture struct {
	// Hostile are the folders a container writes (or a repository filled),
	// below which the step's paths are planted on, in an order every
	// fixture keeps. Each is itself a mount point no container replaces.
	Hostile []string
	// Outside is a folder outside every tree, the sentinels' home; Login a
	// file in it standing for the person's login (Marker in it).
	Outside, Login string
	// Secrets is the bottle's own secrets file (inside its folder, where it
	// belongs): its content (Marker in it) must not spread.
	Secrets string
	// Own is a file of the bottle's own folder, which no container mounts
	// (Marker in it): a link from a hostile folder to it stays inside the
	// bottle's folder, yet must not make the step read or write it.
	Own string
	// Scan are the folders no file of which may hold Marker after the step,
	// but those Holds says hold the bottle's secrets where they belong.
	Scan  []string
	Holds func(path string) bool
	// Mounts, when set, are the mount sources the step handed an engine.
	Mounts func() []string
	// Paths are host paths the step hands to what resolves them by
	// itself, out of internal/beneath's sight (an engine that mounts a
	// source by its path): each, and every folder on the way to it below
	// its hostile folder, is planted on as a path the step touched.
	Paths []string
	// Step is the host-side step under test; its error is the step's own
	// business (a refusal is fine), its effects are what is checked.
	Step func() error
}

// NewOutside makes the sentinels of a fixture: a folder outside the trees
// with a login file in it.
func NewOutside(t *testing.T, base string) (outside, login string) {
	t.Helper()
	outside = filepath.Join(base, "outside")
	if err := os.MkdirAll(filepath.Join(outside, "folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	login = filepath.Join(outside, "login.json")
	if err := os.WriteFile(login, []byte(`{"token":"`+Marker+`-login"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(outside, "folder", "kept"), []byte(Marker+"-folder"), 0o600)
	return outside, login
}

type plant struct {
	name string
	// files, folders: whether it stands in for a file, a folder, or both.
	files, folders bool
	do             func(fx *Fixture, p string) error
}

func relLink(target, at string) string {
	r, err := filepath.Rel(filepath.Dir(at), target)
	if err != nil {
		return target
	}
	return r
}

var plants = []plant{
	{"a link to the person's login", true, false, func(fx *Fixture, p string) error { return os.Symlink(fx.Login, p) }},
	{"a relative link to the person's login", true, false, func(fx *Fixture, p string) error { return os.Symlink(relLink(fx.Login, p), p) }},
	{"a relative link to the bottle's secrets", true, false, func(fx *Fixture, p string) error { return os.Symlink(relLink(fx.Secrets, p), p) }},
	{"a relative link to a file of the bottle's own folder", true, false, func(fx *Fixture, p string) error {
		if fx.Own == "" {
			return os.Symlink("own-nothing", p)
		}
		return os.Symlink(relLink(fx.Own, p), p)
	}},
	{"a link to a folder outside", true, true, func(fx *Fixture, p string) error { return os.Symlink(filepath.Join(fx.Outside, "folder"), p) }},
	{"a relative link to the bottle's own folder", false, true, func(fx *Fixture, p string) error {
		if fx.Own == "" {
			return os.Symlink("own-nothing", p)
		}
		return os.Symlink(relLink(filepath.Dir(fx.Own), p), p)
	}},
	{"a link to /", false, true, func(fx *Fixture, p string) error { return os.Symlink("/", p) }},
	{"a folder where a file was", true, false, func(fx *Fixture, p string) error {
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(p, "x"), nil, 0o644)
	}},
	{"a file where a folder was", false, true, func(fx *Fixture, p string) error { return os.WriteFile(p, []byte("x"), 0o644) }},
	{"a pipe", true, false, func(fx *Fixture, p string) error { return syscall.Mkfifo(p, 0o644) }},
	// Swaps that keep the type: what was recorded of an entry (its device
	// and inode) tells them apart, its name and type do not.
	{"another folder in a folder's place", false, true, func(fx *Fixture, p string) error {
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(p, "swapped"), nil, 0o644)
	}},
	{"another file in a file's place", true, false, func(fx *Fixture, p string) error { return os.WriteFile(p, []byte("swapped"), 0o644) }},
}

// at is one path a step touched: a hostile root (by index) and below it.
type at struct {
	root int
	rel  string
}

// Run runs the harness on a step: newFixture makes a fresh fixture each
// time it is called.
func Run(t *testing.T, newFixture func(t *testing.T) *Fixture) {
	t.Helper()
	fx := newFixture(t)
	var touched []at
	seen := entries(fx.Hostile)
	stop := beneath.Trace(func(tc beneath.Touch) {
		if a, ok := locate(fx.Hostile, tc); ok && !slices.Contains(touched, a) {
			touched = append(touched, a)
		}
	})
	err := fx.Step()
	stop()
	for _, p := range fx.Paths {
		if a, ok := locate(fx.Hostile, beneath.Touch{Root: p, Rel: "."}); ok && !slices.Contains(touched, a) {
			touched = append(touched, a)
		}
	}
	if err != nil {
		t.Fatalf("the step fails with nothing planted: %v", err)
	}
	check(t, "nothing planted", fx, nil)
	// And every entry of the hostile folders the step made or changed:
	// what it wrote shows there even if it went round internal/beneath.
	for a, e := range entries(fx.Hostile) {
		if old, ok := seen[a]; (!ok || old != e) && !slices.Contains(touched, a) {
			touched = append(touched, a)
		}
	}
	if len(touched) == 0 {
		t.Fatal("the step touched no path of a hostile folder: the harness plants nothing")
	}
	// Every path touched, and every folder on the way to one.
	var targets []at
	for _, a := range touched {
		for r := a.rel; r != "." && r != "/" && r != ""; r = filepath.Dir(r) {
			if b := (at{a.root, r}); !slices.Contains(targets, b) {
				targets = append(targets, b)
			}
		}
	}
	sort.Slice(targets, func(i, j int) bool {
		return targets[i].root < targets[j].root || targets[i].root == targets[j].root && targets[i].rel < targets[j].rel
	})
	t.Logf("%d paths touched, %d planted on", len(touched), len(targets))
	for _, tg := range targets {
		// A folder where the clean run had one (or made one) gets folder
		// plants; anything else, file plants.
		folder := false
		if fi, err := os.Lstat(filepath.Join(fx.Hostile[tg.root], tg.rel)); err == nil {
			folder = fi.IsDir()
		}
		for _, pl := range plants {
			if folder && !pl.folders || !folder && !pl.files {
				continue
			}
			what := fmt.Sprintf("%s at %s", pl.name, tg.rel)
			fx := newFixture(t)
			p := filepath.Join(fx.Hostile[tg.root], tg.rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				continue // a file on the way: the plant at that file covers it
			}
			os.RemoveAll(p)
			if err := pl.do(fx, p); err != nil {
				t.Fatalf("%s: plant: %v", what, err)
			}
			before := snapshot(fx)
			fx.Step() // a refusal is fine; what it did is checked
			check(t, what, fx, before)
		}
	}
}

// entry is what an entry was: enough to tell it was written.
type entry struct {
	ino, size uint64
	mtime     int64
}

// entries lists every entry of the hostile folders.
func entries(roots []string) map[at]entry {
	out := map[at]entry{}
	for i, root := range roots {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == root {
				return nil
			}
			if fi, err := d.Info(); err == nil {
				st := fi.Sys().(*syscall.Stat_t)
				out[at{i, strings.TrimPrefix(p, root+"/")}] = entry{ino: st.Ino, size: uint64(fi.Size()), mtime: fi.ModTime().UnixNano()}
			}
			return nil
		})
	}
	return out
}

// locate maps a traced path to the hostile root it lies strictly below
// (a root itself is a mount point, which no container can replace).
func locate(roots []string, tc beneath.Touch) (at, bool) {
	full := filepath.Join(tc.Root, tc.Rel)
	for i, r := range roots {
		if strings.HasPrefix(full, r+"/") {
			return at{i, strings.TrimPrefix(full, r+"/")}, true
		}
	}
	return at{}, false
}

// state is what a sentinel was: content, inode, mode, owner, time.
type state struct {
	data      []byte
	ino, mode uint64
	uid, gid  uint32
	mtime     time.Time
	entries   []string
}

func stateOf(p string) (state, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return state{}, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	s := state{ino: st.Ino, mode: uint64(st.Mode), uid: st.Uid, gid: st.Gid, mtime: fi.ModTime()}
	if fi.IsDir() {
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			s.entries = append(s.entries, e.Name())
		}
	} else {
		s.data, _ = os.ReadFile(p)
	}
	return s, nil
}

func snapshot(fx *Fixture) map[string]state {
	out := map[string]state{}
	filepath.WalkDir(fx.Outside, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			out[p], _ = stateOf(p)
		}
		return nil
	})
	if fx.Own != "" {
		if st, err := stateOf(fx.Own); err == nil {
			out[fx.Own] = st
		}
	}
	return out
}

// check says what the step did that it must not have.
func check(t *testing.T, what string, fx *Fixture, before map[string]state) {
	t.Helper()
	if before != nil {
		after := snapshot(fx)
		for p, b := range before {
			a, ok := after[p]
			if _, err := os.Lstat(filepath.Dir(p)); !ok && p == fx.Own && os.IsNotExist(err) {
				continue // the bottle's folder removed whole (rm, gc): its files with it
			}
			switch {
			case !ok:
				t.Errorf("%s: %s outside was removed or replaced", what, p)
			case !bytes.Equal(a.data, b.data) || a.ino != b.ino:
				t.Errorf("%s: %s outside was written or replaced", what, p)
			case a.mode != b.mode || a.uid != b.uid || a.gid != b.gid:
				t.Errorf("%s: %s outside had its mode or owner changed", what, p)
			case !slices.Equal(a.entries, b.entries):
				t.Errorf("%s: folder %s outside changed: %v, was %v", what, p, a.entries, b.entries)
			case !a.mtime.Equal(b.mtime):
				t.Errorf("%s: %s outside was touched", what, p)
			}
		}
		for p := range after {
			if _, ok := before[p]; !ok && p != fx.Own {
				t.Errorf("%s: %s was made outside", what, p)
			}
		}
	}
	var secrets []byte
	if fi, err := os.Lstat(fx.Secrets); err == nil && fi.Mode().IsRegular() {
		secrets, _ = os.ReadFile(fx.Secrets)
	}
	for _, dir := range fx.Scan {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || p == fx.Secrets || p == fx.Own || fx.Holds != nil && fx.Holds(p) {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			if bytes.Contains(data, []byte(Marker)) {
				t.Errorf("%s: %s holds what was outside (or the bottle's secrets): %.80q", what, p, data)
			} else if len(secrets) > 0 && bytes.Contains(data, secrets) {
				t.Errorf("%s: %s holds the bottle's secrets", what, p)
			}
			return nil
		})
	}
	if fx.Mounts != nil {
		for _, src := range fx.Mounts() {
			real, err := filepath.EvalSymlinks(src)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil || real != filepath.Clean(src) || real == "/" {
				t.Errorf("%s: a mount's source %s leads to %s", what, src, real)
			}
		}
	}
}
