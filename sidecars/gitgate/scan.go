package gitgate

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/bottle-sandbox/bottle/internal/dlp"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/diff"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/rs/zerolog"
	gitleaksconfig "github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/logging"
)

// storerAll is what the gate needs of a mirror's storage.
type storerAll = storer.Storer

// maxScanCommits bounds one push's scan; a bigger history is refused, not
// waved through.
const maxScanCommits = 5000

var (
	leaksOnce sync.Once
	leaksCfg  gitleaksconfig.Config
	leaksErr  error
)

// detector is a fresh gitleaks detector on its maintained default rules.
func detector() (*detect.Detector, error) {
	leaksOnce.Do(func() {
		logging.Logger = logging.Logger.Level(zerolog.Disabled)
		d, err := detect.NewDetectorDefaultConfig()
		if err != nil {
			leaksErr = err
			return
		}
		leaksCfg = d.Config
	})
	if leaksErr != nil {
		return nil, leaksErr
	}
	return detect.NewDetector(leaksCfg), nil
}

// pushScan scans the commits one push brings: the lines each adds against
// its first parent. The commits the mirror's refs reach are known when the
// push begins; those a ref of the push passed join them, so a later ref of
// the same push scans only what is new to it.
type pushScan struct {
	st       storerAll
	known    map[plumbing.Hash]bool
	d        *detect.Detector
	injected *dlp.Scanner
}

func newPushScan(st storerAll, injected *dlp.Scanner) (*pushScan, error) {
	d, err := detector()
	if err != nil {
		return nil, err
	}
	refs, err := st.IterReferences()
	if err != nil {
		return nil, err
	}
	var tips []plumbing.Hash
	refs.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference {
			tips = append(tips, r.Hash())
		}
		return nil
	})
	return &pushScan{st: st, known: commitsReachable(st, tips), d: d, injected: injected}, nil
}

// scan names the first hit's rule, file and commit up to tip, never the
// secret; "" when there is none.
func (ps *pushScan) scan(tip plumbing.Hash) (string, error) {
	commits, err := ps.newCommits(tip)
	if err != nil {
		return "", err
	}
	for _, c := range commits {
		path, rule, err := scanCommit(ps.d, ps.injected, c)
		if err != nil {
			return "", err
		}
		if rule != "" {
			return fmt.Sprintf("secret found: %s in %s (commit %s); remove it from the history and push again",
				rule, path, c.Hash.String()[:12]), nil
		}
	}
	for _, c := range commits {
		ps.known[c.Hash] = true
	}
	return "", nil
}

// commitsReachable is every commit tips reach, walking the commit graph only.
func commitsReachable(st storerAll, tips []plumbing.Hash) map[plumbing.Hash]bool {
	reached := map[plumbing.Hash]bool{}
	stack := slices.Clone(tips)
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if reached[h] {
			continue
		}
		c, err := object.GetCommit(st, h)
		if err != nil {
			continue // a tag of a tree or blob, or an object the store lacks
		}
		reached[h] = true
		stack = append(stack, c.ParentHashes...)
	}
	return reached
}

// newCommits lists the commits reachable from tip and not known.
func (ps *pushScan) newCommits(tip plumbing.Hash) ([]*object.Commit, error) {
	var out []*object.Commit
	seen := map[plumbing.Hash]bool{}
	stack := []plumbing.Hash{tip}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if ps.known[h] || seen[h] {
			continue
		}
		seen[h] = true
		c, err := object.GetCommit(ps.st, h)
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", h, err)
		}
		out = append(out, c)
		if len(out) > maxScanCommits {
			return nil, fmt.Errorf("the push brings more than %d new commits", maxScanCommits)
		}
		stack = append(stack, c.ParentHashes...)
	}
	return out, nil
}

// scanCommit runs the detector over the lines c adds.
func scanCommit(d *detect.Detector, injected *dlp.Scanner, c *object.Commit) (path, rule string, err error) {
	tree, err := c.Tree()
	if err != nil {
		return "", "", err
	}
	from := &object.Tree{}
	if c.NumParents() > 0 {
		p, err := c.Parent(0)
		if err != nil {
			return "", "", err
		}
		if from, err = p.Tree(); err != nil {
			return "", "", err
		}
	}
	changes, err := object.DiffTree(from, tree)
	if err != nil {
		return "", "", err
	}
	patch, err := changes.Patch()
	if err != nil {
		return "", "", err
	}
	for _, fp := range patch.FilePatches() {
		_, to := fp.Files()
		if to == nil || fp.IsBinary() {
			continue
		}
		var added strings.Builder
		for _, ch := range fp.Chunks() {
			if ch.Type() == diff.Add {
				added.WriteString(ch.Content())
			}
		}
		if added.Len() == 0 {
			continue
		}
		//lint:ignore SA1019 Detect takes no other type before gitleaks v9
		frag := detect.Fragment{Raw: added.String(), FilePath: to.Path()}
		for _, f := range d.Detect(frag) {
			return to.Path(), f.RuleID, nil
		}
		// The bottle's own secrets, plain or encoded, and the formats the
		// egress proxy knows.
		if injected != nil {
			if f := injected.Scan([]byte(added.String()), to.Path()); f != nil {
				rule := f.Rule
				if f.Encoding != "" {
					rule += " (" + f.Encoding + ")"
				}
				return to.Path(), rule, nil
			}
		}
	}
	return "", "", nil
}
