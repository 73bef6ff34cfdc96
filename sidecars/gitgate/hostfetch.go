package gitgate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/internal/workspace"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// pushedBranches reads the audit for the branches the gate accepted or held,
// per remote, in the order first pushed.
func pushedBranches(dir beneath.Dir) (map[string][]plumbing.ReferenceName, error) {
	out := map[string][]plumbing.ReferenceName{}
	err := readAudit(dir, func(e auditEntry, r auditRef) {
		n := plumbing.ReferenceName(r.Ref)
		// The gate writes its audit, and its folder is hostile ground: a
		// name is a branch only when git would take it for one.
		if (r.Decision == "held" || r.Decision == "accepted") && plainBranch(n) && !slices.Contains(out[e.Remote], n) {
			out[e.Remote] = append(out[e.Remote], n)
		}
	})
	return out, err
}

// plainBranch reports whether n is a branch git would take, named in text
// a terminal shows as it is: git's rules allow C1 controls and bidi
// overrides in a name, which the agent's branch would bring into the
// person's repository and onto the person's screen.
func plainBranch(n plumbing.ReferenceName) bool {
	return n.IsBranch() && n.Validate() == nil && termtext.Clean(string(n), false) == string(n)
}

// FetchPushed brings the branches the agent pushed through the gate (dir)
// into the workspace's repository (as the bottle's first start found it), as
// ordinary branches of the same name: created, or fast-forwarded when the
// host's is behind. It never moves the branch checked out, nor one that
// diverged. It returns a line per branch.
func FetchPushed(dir beneath.Dir, ws *workspace.Record, only string) ([]string, error) {
	c, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	pushed, err := pushedBranches(dir)
	if err != nil {
		return nil, err
	}
	host, err := openHost(ws)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", ws.Dir, err)
	}
	checkedOut := checkedOutBranch(ws)
	var lines []string
	var errs []error // a remote or branch that cannot be brought keeps no other behind
	found := false
	for _, r := range c.Remotes {
		if only != "" && r.Name != only {
			continue
		}
		found = true
		md, err := dir.Join(mirrorRel(r.Name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m, err := openAt(md, ws)
		if err != nil {
			errs = append(errs, fmt.Errorf("remote %s: %w", r.Name, err))
			continue
		}
		for _, name := range pushed[r.Name] {
			ref, err := m.Storer.Reference(name)
			if err != nil {
				continue // pushed, then gone from the mirror
			}
			line, err := bringBranch(m, host, name, ref.Hash(), name == checkedOut)
			if err != nil {
				errs = append(errs, fmt.Errorf("remote %s: %s: %w", r.Name, name.Short(), err))
				continue
			}
			lines = append(lines, fmt.Sprintf("%s %s: %s", r.Name, name.Short(), line))
		}
	}
	if only != "" && !found {
		return nil, fmt.Errorf("the gate has no remote %q", only)
	}
	return lines, errors.Join(append(errs, giveBack(ws))...)
}

// checkedOutBranch is the branch the workspace has checked out (its HEAD,
// which a worktree keeps in its own git folder), or "".
func checkedOutBranch(ws *workspace.Record) plumbing.ReferenceName {
	data, err := ws.ReadGitFile(filepath.Join(ws.GitDir, "HEAD"))
	if err != nil {
		return ""
	}
	target, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "ref: ")
	if !ok {
		return ""
	}
	return plumbing.ReferenceName(target)
}

// giveBack hands what root just wrote into a user's repository (objects,
// refs) to the repository's owner, so the user's own git can use it; no
// link is followed, nor chowned.
func giveBack(ws *workspace.Record) error {
	if os.Geteuid() != 0 {
		return nil
	}
	common, err := ws.GitFolder(ws.CommonDir)
	if err != nil {
		return err
	}
	fi, err := common.Lstat(".")
	if err != nil {
		return err
	}
	uid, gid, ok := beneath.OwnerOf(fi)
	if !ok || uid == 0 {
		return nil
	}
	for _, sub := range []string{"objects", "refs"} {
		err := common.Walk(sub, func(p string, fi fs.FileInfo) error {
			if u, _, ok := beneath.OwnerOf(fi); ok && u == 0 {
				return common.Chown(p, uid, gid)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func bringBranch(m, host *git.Repository, name plumbing.ReferenceName, h plumbing.Hash, checkedOut bool) (string, error) {
	if err := copyObjects(m.Storer, host.Storer, h); err != nil {
		return "", err
	}
	short := h.String()[:12]
	cur, err := host.Storer.Reference(name)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		if err := host.Storer.SetReference(plumbing.NewHashReference(name, h)); err != nil {
			return "", err
		}
		return "new branch at " + short, nil
	case err != nil:
		return "", err
	case cur.Hash() == h:
		return "up to date at " + short, nil
	}
	oc, err1 := object.GetCommit(host.Storer, cur.Hash())
	nc, err2 := object.GetCommit(host.Storer, h)
	if err1 != nil || err2 != nil {
		return "", errors.Join(err1, err2)
	}
	if ff, _ := oc.IsAncestor(nc); !ff {
		// The hints name the whole hash: git takes a branch's name before a
		// short hash, and the agent can push a branch named as this one's.
		return fmt.Sprintf("not touched: yours diverged from the pushed %s (git merge %s)", short, h), nil
	}
	if checkedOut {
		return fmt.Sprintf("not touched: checked out here (git merge --ff-only %s)", h), nil
	}
	if err := host.Storer.CheckAndSetReference(plumbing.NewHashReference(name, h), cur); err != nil {
		return "", err
	}
	return fmt.Sprintf("fast-forwarded %s..%s", cur.Hash().String()[:12], short), nil
}

// FetchBranches brings the local branches of a git folder the agent wrote
// (a bind workspace's own git folder, or a copied workspace's .git) into the
// workspace's repository, under prefix (bottle/IDENTITY/): the agent's
// commits, pushed or not, come back without touching a branch of the user's.
// With onlyNew, a branch whose tip the host has already is left out (the
// agent did no work on it). It returns a line per branch.
func FetchBranches(gitDir beneath.Dir, ws *workspace.Record, prefix string, onlyNew bool) ([]string, error) {
	agentRepo, err := openUntrusted(gitDir)
	if err != nil {
		return nil, fmt.Errorf("open the agent's git folder %s: %w", gitDir.Path(), err)
	}
	host, err := openHost(ws)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", ws.Dir, err)
	}
	refs, err := agentRepo.Branches()
	if err != nil {
		return nil, err
	}
	// Which to bring is decided before any is: one brought carries the
	// commits of others with it.
	var todo []*plumbing.Reference
	var lines []string
	err = refs.ForEach(func(r *plumbing.Reference) error {
		name := plumbing.NewBranchReferenceName(prefix + r.Name().Short())
		if !plainBranch(name) {
			if name.Validate() == nil {
				lines = append(lines, fmt.Sprintf("workspace %s: left out: its name holds characters a terminal acts on", termtext.Clean(r.Name().Short(), false)))
			}
			return nil
		}
		if onlyNew && host.Storer.HasEncodedObject(r.Hash()) == nil {
			if cur, err := host.Storer.Reference(name); err != nil || cur.Hash() == r.Hash() {
				return nil
			}
		}
		todo = append(todo, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A branch that cannot be brought (the agent's folder is its own to
	// break) keeps none of the others behind, and what was written for
	// them is handed to the repository's owner all the same.
	var errs []error
	for _, r := range todo {
		name := plumbing.NewBranchReferenceName(prefix + r.Name().Short())
		line, err := bringBranch(agentRepo, host, name, r.Hash(), false)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Name().Short(), err))
			continue
		}
		lines = append(lines, fmt.Sprintf("workspace %s: %s %s", r.Name().Short(), name.Short(), line))
	}
	return lines, errors.Join(append(errs, giveBack(ws))...)
}
