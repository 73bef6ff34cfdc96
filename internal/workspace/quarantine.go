package workspace

import (
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
	ws := beneath.At(r.Dir)
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

// Quarantine moves out of a bind workspace, into dst (keeping each one's
// path below it), the git metadata the first start did not record (a .git
// folder, file or link anywhere, the top one included when the workspace
// was no repository, or a folder shaped like a git folder) and what now
// stands at a recorded path that changed, so no git or editor of the
// person's ever reads it as configuration. It runs once the agent is
// stopped, and returns what it moved and which recorded entries changed.
func Quarantine(r *Record, dst beneath.Dir) ([]Moved, []Change, error) {
	ws := beneath.At(r.Dir)
	changed, err := r.Check()
	if err != nil {
		return nil, nil, err
	}
	known := slices.Clone(r.Nested)
	if r.Git != GitNone {
		known = append(known, ".git")
	}
	var found []string
	for _, c := range changed {
		if c.Now.Type != "" && !c.Through {
			found = append(found, c.Path) // what stands there now is not what was
		}
	}
	more, err := findGitMetadata(ws, known)
	if err != nil {
		return nil, changed, fmt.Errorf("look for git metadata in %s: %w", r.Dir, err)
	}
	found = append(found, more...)
	if r.Git == GitNone {
		if _, err := ws.Lstat(".git"); err == nil {
			found = append([]string{".git"}, found...)
		}
	}
	var moved []Moved
	for _, rel := range found {
		to, err := moveAside(ws, rel, dst)
		if err != nil {
			return moved, changed, fmt.Errorf("move %s out of the workspace: %w", rel, err)
		}
		moved = append(moved, Moved{Path: rel, To: to})
	}
	return moved, changed, nil
}

// moveAside moves rel of the workspace to the same path below dst, or,
// when an earlier session's is there, beside it with a number.
func moveAside(ws beneath.Dir, rel string, dst beneath.Dir) (string, error) {
	if err := dst.MkdirAll(path.Dir(rel), 0o700); err != nil {
		return "", err
	}
	to := rel
	for i := 1; ; i++ {
		err := ws.Move(rel, dst, to)
		if !errors.Is(err, fs.ErrExist) || i > 1000 {
			return dst.MustJoin(to).Path(), err
		}
		to = fmt.Sprintf("%s.%d", rel, i)
	}
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
