// Package beneath is the one way host code goes into a folder that a
// container of a bottle can write (the agent's home, a bind workspace, the
// agent's git folder, a service's folder mounted read-write) or that a
// repository filled (a working directory the person cloned): hostile
// ground, where any entry may be a link or may have changed its type since
// it was last seen.
//
// Every path below such a folder's root is resolved by the kernel beneath
// the root without following a link (openat2 with RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS; on a kernel without it, one component at a time with
// O_NOFOLLOW, which is the same rule). A link met on the way is an error
// (ErrLink); a link where a file is written is replaced, never written
// through; nothing is chowned through a link; a file read or replaced must
// be a regular file, a folder walked or made must be a folder (ErrType).
// The root itself must be a path no container can write (the folder's own
// mount point, or a folder of the bottle's own state).
package beneath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrLink is a symbolic link met where bottle resolves a path: it follows
// none in a folder a bottle can write.
var ErrLink = errors.New("a symbolic link, which bottle does not follow in a folder a bottle can write")

// ErrType is an entry of another type than the one expected (a folder
// where a file is read, a file where a folder is walked, a pipe, a device).
var ErrType = errors.New("not of the type bottle expects there")

// Dir is a folder some container of a bottle can write, or a repository
// filled. Its zero value is not usable; make one with At.
type Dir struct {
	root string // a host path no container can write
	sub  string // below root: clean, slash-separated, local; "." for root
	uid  int    // owner of what Dir makes, when >= 0
	gid  int
	want *ID // what root must be, when set (Expect)
}

// ErrMoved is a folder's root that is no longer the folder it was (another
// folder, or a link to one, stands at its path).
var ErrMoved = errors.New("not the folder bottle recorded there: it was moved or replaced")

// Expect is d whose root must be the folder id names, at every use: a
// root a container could have had replaced (a working directory inside
// another bottle's) is refused rather than followed elsewhere.
func (d Dir) Expect(id ID) Dir {
	d.want = &id
	return d
}

// At is the folder at root, a path no container of a bottle can write
// (its parents are the host's): paths below it are hostile, root is not.
func At(root string) Dir { return Dir{root: filepath.Clean(root), sub: ".", uid: -1, gid: -1} }

// Path is the folder's host path: for a mount's source and for messages,
// never to open (the call-site test in internal/archtest holds code to it).
func (d Dir) Path() string { return d.host(d.sub) }

// Join is the folder rel below d (no I/O: rel is resolved beneath d's root
// at each use).
func (d Dir) Join(rel string) (Dir, error) {
	full, err := d.rel(rel)
	if err != nil {
		return Dir{}, err
	}
	d.sub = full
	return d, nil
}

// MustJoin is Join for a rel that is the program's own constant.
func (d Dir) MustJoin(rel string) Dir {
	s, err := d.Join(rel)
	if err != nil {
		panic(err)
	}
	return s
}

// Owned is d giving what it makes (folders, files, links) to uid:gid, with
// fchown on the made thing itself, never through a link. A uid below 0
// keeps the maker's.
func (d Dir) Owned(uid, gid int) Dir {
	d.uid, d.gid = uid, gid
	return d
}

// rel checks a path given below d and returns it below d's root.
func (d Dir) rel(rel string) (string, error) {
	if d.root == "" {
		return "", errors.New("beneath: a Dir made without At")
	}
	r := filepath.ToSlash(rel)
	if r == "" {
		r = "."
	}
	if path.IsAbs(r) || !filepath.IsLocal(filepath.FromSlash(path.Clean(r))) && path.Clean(r) != "." {
		return "", &fs.PathError{Op: "resolve", Path: rel, Err: fmt.Errorf("not a path below %s", d.Path())}
	}
	for _, part := range strings.Split(r, "/") {
		if part == ".." {
			return "", &fs.PathError{Op: "resolve", Path: rel, Err: fmt.Errorf("leaves %s", d.Path())}
		}
	}
	return path.Join(d.sub, r), nil
}

// host is the host path of full (below the root), for messages.
func (d Dir) host(full string) string {
	if full == "." {
		return d.root
	}
	return filepath.Join(d.root, filepath.FromSlash(full))
}

// pathErr names the host path in an error, and says ELOOP and ENOTDIR in
// this package's words.
func (d Dir) pathErr(op, full string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ELOOP):
		err = ErrLink
	case errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.EISDIR):
		err = ErrType
	case errors.Is(err, unix.EXDEV) && op != "rename":
		err = fmt.Errorf("leaves %s", d.Path())
	}
	return &fs.PathError{Op: op, Path: d.host(full), Err: err}
}

// Tracing, for the hostile-tree harness: every path a Dir touches, so a
// test can plant links and swaps at each.

// Touch is one path a Dir resolved: its root and the path below it.
type Touch struct {
	Root, Rel, Op string
}

var (
	traceMu sync.Mutex
	trace   func(Touch)
)

// Trace calls f with every path any Dir resolves until the returned
// function is called. For tests.
func Trace(f func(Touch)) (stop func()) {
	traceMu.Lock()
	trace = f
	traceMu.Unlock()
	return func() {
		traceMu.Lock()
		trace = nil
		traceMu.Unlock()
	}
}

// Tracing says whether a trace is on: a process of bottle's own that a
// traced step starts (the git reader) traces too and hands its touches
// back, for Replay.
func Tracing() bool {
	traceMu.Lock()
	defer traceMu.Unlock()
	return trace != nil
}

// Replay hands the touches another process traced to the trace, if one
// is on.
func Replay(ts []Touch) {
	traceMu.Lock()
	f := trace
	traceMu.Unlock()
	if f == nil {
		return
	}
	for _, tc := range ts {
		f(tc)
	}
}

func (d Dir) traced(op, full string) {
	traceMu.Lock()
	f := trace
	traceMu.Unlock()
	if f != nil {
		f(Touch{Root: d.root, Rel: full, Op: op})
	}
}

// Make makes the folder root (a path no container can write, with its
// parents) when it is not there, and returns it as At does: for a service's
// folder that the host makes before any container mounts it.
func Make(root string, perm fs.FileMode) (Dir, error) {
	if err := os.MkdirAll(root, perm); err != nil {
		return Dir{}, err
	}
	return At(root), nil
}

// Spec is d as two paths (its trusted root, and below it), for a process
// of bottle's own to make the same Dir with FromSpec.
func (d Dir) Spec() (root, sub string) { return d.root, d.sub }

// FromSpec is the Dir Spec described (its owner left unset).
func FromSpec(root, sub string) (Dir, error) { return At(root).Join(sub) }
