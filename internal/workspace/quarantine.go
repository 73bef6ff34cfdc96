package workspace

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// Moved is git metadata taken out of a workspace.
type Moved struct {
	Path string // relative to the workspace
	To   string // where it is now
}

// Change is an entry the first start recorded (the top .git, nested git
// metadata) that is no longer what it was: gone, replaced, or reached
// through a link.
type Change struct {
	Path     string
	Was, Now Entry
	// Through is set when a folder on the way is now a link or a file.
	Through bool
}

func (c Change) String() string {
	now := c.Now.String()
	switch {
	case c.Through:
		now = "reached through a symbolic link or a file"
	case c.Now.Type == c.Was.Type:
		now = "another " + now[2:]
	}
	return fmt.Sprintf("%s was %s at the bottle's first start and is %s now", c.Path, c.Was, now)
}

// Check compares what the first start recorded (type, device, inode) with
// what the workspace holds at those paths now. A record of an earlier
// version, which kept no such entries, has nothing to compare.
func (r *Record) Check() ([]Change, error) {
	ws := r.Workspace()
	if _, err := ws.Lstat("."); errors.Is(err, beneath.ErrMoved) {
		return nil, &MovedError{Dir: r.Dir}
	} else if err != nil {
		return nil, err
	}
	var out []Change
	for _, rel := range slicesSorted(r.Seen) {
		was := r.Seen[rel]
		fi, err := ws.Lstat(rel)
		var now Entry
		through := false
		switch {
		case err == nil:
			now = entryOf(fi)
		case errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, beneath.ErrLink), errors.Is(err, beneath.ErrType):
			through = true
		default:
			return nil, err
		}
		if now != was || through {
			out = append(out, Change{Path: rel, Was: was, Now: now, Through: through})
		}
	}
	return out, nil
}

func slicesSorted(m map[string]Entry) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Here reports (a MovedError) a working directory that is no longer the
// folder the first start recorded at its path: a bottle whose folder lies
// in another's bind workspace can have it replaced by a link.
func (r *Record) Here() error {
	_, err := r.Workspace().Lstat(".")
	if errors.Is(err, beneath.ErrMoved) {
		return &MovedError{Dir: r.Dir}
	}
	return err
}

// MovedError is a working directory that is no longer the folder the
// bottle's first start found at its path.
type MovedError struct{ Dir string }

func (e *MovedError) Error() string {
	return fmt.Sprintf("the working directory %s is not the folder the bottle started in: it was moved or replaced (another folder, or a link, stands at its path), and bottle neither settles nor mounts it", e.Dir)
}

// Quarantine moves out of a bind workspace, into dst (keeping each one's
// path below it), the git metadata the first start did not record (a .git
// folder, file or link anywhere, the top one included when the workspace
// was no repository, or a folder shaped like a git folder, the top
// included: its HEAD) and what now
// stands at a recorded path that changed, so no git or editor of the
// person's ever reads it as configuration. It runs once the agent is
// stopped, and returns what it moved and which recorded entries changed.
// It goes on past what it cannot do (and says it): a folder the agent made
// too deep to name, or took the person's read, search or write away from,
// is walked by descriptor, and given its owner's rights back.
func Quarantine(r *Record, dst beneath.Dir) ([]Moved, []Change, error) {
	ws := r.Workspace()
	changed, err := r.Check()
	if err != nil {
		return nil, nil, err
	}
	replaced := map[string]bool{}
	for _, c := range changed {
		if c.Now.Type != "" && !c.Through {
			replaced[c.Path] = true // what stands there now is not what was
		}
	}
	var moved []Moved
	var errs []error
	take := func(rel string, h beneath.Handle) {
		to, err := moveAside(h, rel, dst)
		if err != nil {
			errs = append(errs, fmt.Errorf("move %s out of the workspace: %w", rel, err))
			return
		}
		moved = append(moved, Moved{Path: rel, To: dst.MustJoin(to).Path()})
		if err := defuse(dst, to); err != nil {
			errs = append(errs, fmt.Errorf("rename what git would find in %s: %w", dst.MustJoin(to).Path(), err))
		}
	}
	goOn := func(rel string, err error) error {
		errs = append(errs, fmt.Errorf("look for git metadata in %s: %w", path.Join(r.Dir, rel), err))
		return nil
	}
	topShaped := false
	err = ws.WalkAt(".", beneath.WalkOptions{Repair: true, OnError: goOn}, func(rel string, fi fs.FileInfo, h beneath.Handle) error {
		switch {
		case rel == ".":
			// The top itself shaped like a git folder: git run there (or
			// in a folder of the person's repository the workspace is)
			// finds no .git, or one quarantined, and takes the top for
			// a git folder, its config and hooks the agent's.
			topShaped = gitShaped(h)
			return nil
		case topShaped && slices.Contains(topGitFiles, rel):
			take(rel, h)
			return nil
		case rel == ".git" && r.Git != GitNone || slices.Contains(r.Nested, rel):
			if replaced[rel] {
				take(rel, h)
			}
			return skip(fi)
		case isGitMetadata(rel, fi, h):
			take(rel, h)
			return skip(fi)
		}
		return nil
	})
	errs = append(errs, err)
	return moved, changed, errors.Join(errs...)
}

// topGitFiles are what makes a folder holding objects and refs a git
// folder: moved out of a top shaped like one, it is not one.
var topGitFiles = []string{"HEAD", "commondir", "gitdir"}

// deepPath bounds the paths kept as they were in the quarantine: one the
// agent made longer goes below deep/, by a hash of it.
const deepPath = 1024

// moveAside moves the walked entry rel to the same path below dst (or,
// too deep, below deep/), named as defuse names it, or, when an earlier
// session's is there, beside it with a number. It returns where, below dst.
func moveAside(h beneath.Handle, rel string, dst beneath.Dir) (string, error) {
	base := rel
	if len(rel) > deepPath {
		sum := sha256.Sum256([]byte(rel))
		base = "deep/" + hex.EncodeToString(sum[:6]) + "/" + path.Base(rel)
	}
	if gitName(path.Base(base)) {
		base += defused
	}
	if err := dst.MkdirAll(path.Dir(base), 0o700); err != nil {
		return "", err
	}
	to := base
	for i := 1; ; i++ {
		err := h.MoveTo(dst, to)
		if !errors.Is(err, fs.ErrExist) || i > 1000 {
			return to, err
		}
		to = fmt.Sprintf("%s.%d", base, i)
	}
}

// The quarantine is where the person is told to look, and a shell prompt
// runs git status in any folder the person enters: nothing in it may be a
// repository git finds, whose configuration (core.fsmonitor, a pager, a
// filter) would run as the person. Git finds one by a .git (a folder, or a
// file or link leading to one, such as the agent's own git folder in the
// bottle's state) or takes a folder with a HEAD for a git folder; so every
// entry of those names in what was moved gets defused's suffix.
const defused = ".quarantined"

func gitName(name string) bool { return name == ".git" || name == "HEAD" }

// defuse renames every .git and HEAD below rel of dst (what was just
// moved there), deepest first, so each rename leaves the paths above it
// as they were.
func defuse(dst beneath.Dir, rel string) error {
	var found []string
	err := dst.WalkAt(rel, beneath.WalkOptions{Repair: true}, func(p string, fi fs.FileInfo, h beneath.Handle) error {
		if p != rel && gitName(path.Base(p)) {
			found = append(found, p)
		}
		return nil
	})
	var errs []error
	for _, p := range slices.Backward(found) {
		to := p + defused
		for i := 1; ; i++ {
			err := dst.Move(p, dst, to)
			if !errors.Is(err, fs.ErrExist) || i > 1000 {
				errs = append(errs, err)
				break
			}
			to = fmt.Sprintf("%s%s.%d", p, defused, i)
		}
	}
	return errors.Join(append(errs, err)...)
}

// Accept records what now stands at the paths of changes, once the person
// has seen them: an entry gone (quarantined) is forgotten, a folder or file
// is recorded as it is now; a link, or a path reached through one, cannot
// be mounted and is refused.
func (r *Record) Accept(changes []Change) error {
	for _, c := range changes {
		switch {
		case c.Through || c.Now.Type == "link" || c.Now.Type == "other":
			return fmt.Errorf("%s in %s: %s, which bottle cannot mount: remove it, or use workspace = \"copy\"", c.Path, r.Dir, c)
		case c.Now.Type == "":
			delete(r.Seen, c.Path)
			r.Nested = slices.DeleteFunc(r.Nested, func(n string) bool { return n == c.Path })
		default:
			r.Seen[c.Path] = c.Now
		}
	}
	return nil
}
