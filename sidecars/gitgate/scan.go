package gitgate

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"

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

// detector is a fresh gitleaks detector on its maintained default rules,
// with the global allowlist's paths narrowed to lock files.
func detector() (*detect.Detector, error) {
	leaksOnce.Do(func() {
		logging.Logger = logging.Logger.Level(zerolog.Disabled)
		d, err := detect.NewDetectorDefaultConfig()
		if err != nil {
			leaksErr = err
			return
		}
		leaksCfg = d.Config
		leaksCfg.Allowlists = lockFilesOnly(leaksCfg.Allowlists)
	})
	if leaksErr != nil {
		return nil, leaksErr
	}
	return detect.NewDetector(leaksCfg), nil
}

// lockFilesOnly keeps, of gitleaks' global allowlists by path, those for
// lock and checksum files (their hashes read as keys), and drops those by
// folder (node_modules/, vendor/...) and by extension (.png, .bin...): the
// agent names its files, and a secret named logo.png or put under
// node_modules/ is still pushed.
func lockFilesOnly(lists []*gitleaksconfig.Allowlist) []*gitleaksconfig.Allowlist {
	locks := []string{"go.sum", "go.mod", "go.work.sum", "a/vendor/modules.txt", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock",
		"pnpm-lock.yaml", "deno.lock", "Pipfile.lock", "poetry.lock", "gradle.lockfile", "a/verification-metadata.xml"}
	content := []string{"node_modules/a.js", "a/vendor/github.com/b/c.go", "vendor/bundle/a.rb", "a.png", "a.bin", "a.exe", "a.pdf", "a.woff",
		"venv/lib/a.py", "lib/python3.12/a.py", "a-1.0.dist-info/RECORD", "bower_components/a.js", "jquery.min.js", "a.gem"}
	out := make([]*gitleaksconfig.Allowlist, 0, len(lists))
	for _, l := range lists {
		var paths []*regexp.Regexp
		for _, re := range l.Paths {
			if slices.ContainsFunc(locks, re.MatchString) && !slices.ContainsFunc(content, re.MatchString) {
				paths = append(paths, re)
			}
		}
		c := &gitleaksconfig.Allowlist{Description: l.Description, MatchCondition: l.MatchCondition, Commits: l.Commits, Paths: paths,
			RegexTarget: l.RegexTarget, Regexes: l.Regexes, StopWords: l.StopWords}
		if c.Validate() == nil { // an error: nothing left of it
			out = append(out, c)
		}
	}
	return out
}

// pushScan scans what one push brings: each new commit's message, author
// and committer, the names of the files it adds or changes, the lines it
// adds to text files, and binary files whole (compressed files and
// archives opened); the tags it brings and what they point at. The
// commits the mirror's refs reach are known when the push begins; those a
// ref of the push passed join them, so a later ref of the same push scans
// only what is new to it.
type pushScan struct {
	st        storerAll
	known     map[plumbing.Hash]bool
	f         *finder
	maxBinary int64
	blobs     map[plumbing.Hash]bool // scanned whole, and clean
}

func newPushScan(st storerAll, f *finder, maxBinary int64) (*pushScan, error) {
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
	if maxBinary <= 0 {
		maxBinary = 16 << 20
	}
	return &pushScan{st: st, known: commitsReachable(st, tips), f: f, maxBinary: maxBinary, blobs: map[plumbing.Hash]bool{}}, nil
}

// refName says why a ref's name is refused: a secret in it (not named).
func (f *finder) refName(name plumbing.ReferenceName) string {
	rule := f.text([]byte(name.String()), "")
	switch {
	case rule == "":
		return ""
	case name.IsTag():
		return fmt.Sprintf("secret found: %s in the tag's name; push it under another name", rule)
	}
	return fmt.Sprintf("secret found: %s in the branch's name; push it under another name", rule)
}

// advise adds to a refusal what to do about it.
func advise(problem string) string {
	switch {
	case problem == "":
		return ""
	case strings.HasPrefix(problem, "secret found"):
		return problem + "; remove it from the history and push again"
	case strings.Contains(problem, "max_binary"):
		return problem + "; push it from the host, or raise the remote's max_binary"
	}
	return problem + "; push it from the host"
}

// scan says why what tip brings is refused, naming the rule, where it was
// and the commit, never the secret; "" when nothing is wrong.
func (ps *pushScan) scan(tip plumbing.Hash) (string, error) {
	p, err := ps.object(tip, "the pushed object", 0)
	return advise(p), err
}

// maxTagDepth bounds tags of tags.
const maxTagDepth = 8

// object scans what tip is: a commit and its new history, a tag and what
// it points at, a tree or a blob (what via says points at it).
func (ps *pushScan) object(h plumbing.Hash, via string, depth int) (string, error) {
	obj, err := ps.st.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return "", fmt.Errorf("object %s: %w", h, err)
	}
	switch obj.Type() {
	case plumbing.CommitObject:
		return ps.commits(h)
	case plumbing.TagObject:
		if depth >= maxTagDepth {
			return fmt.Sprintf("tags nested more than %d deep", maxTagDepth), nil
		}
		t, err := object.DecodeTag(ps.st, obj)
		if err != nil {
			return "", err
		}
		if p := ps.raw(obj, "the tag"); p != "" {
			return ps.tagLeak(t, p), nil
		}
		return ps.object(t.Target, "tag "+clean(t.Name)+"'s "+strings.ToLower(t.TargetType.String()), depth+1)
	case plumbing.TreeObject:
		tree, err := object.DecodeTree(ps.st, obj)
		if err != nil {
			return "", err
		}
		p, err := ps.changes(&object.Tree{}, tree)
		if p != "" {
			p += " (in " + via + ")"
		}
		return p, err
	case plumbing.BlobObject:
		b, err := object.DecodeBlob(obj)
		if err != nil {
			return "", err
		}
		return ps.blob(b, via)
	}
	return fmt.Sprintf("%s is a %s, which is not pushed", via, obj.Type()), nil
}

// tagLeak says where in t the secret the whole tag showed is: its name
// first (the other places are said with it).
func (ps *pushScan) tagLeak(t *object.Tag, whole string) string {
	if rule := ps.f.text([]byte(t.Name), ""); rule != "" {
		return fmt.Sprintf("secret found: %s in the tag's name", rule)
	}
	name := clean(t.Name)
	for _, part := range []struct{ what, text string }{
		{"tagger", t.Tagger.Name + " <" + t.Tagger.Email + ">"},
		{"message", t.Message},
		{"signature", t.PGPSignature},
	} {
		if rule := ps.f.text([]byte(part.text), ""); rule != "" {
			return fmt.Sprintf("secret found: %s in tag %s's %s", rule, name, part.what)
		}
	}
	return strings.Replace(whole, "in the tag", "in tag "+name+"'s headers", 1)
}

// raw scans an object's whole encoding (a commit's or a tag's headers
// and message), at most maxBinary of it; what says what it is.
func (ps *pushScan) raw(obj plumbing.EncodedObject, what string) string {
	if obj.Size() > ps.maxBinary {
		return fmt.Sprintf("%s is %d bytes, larger than max_binary (%d)", what, obj.Size(), ps.maxBinary)
	}
	r, err := obj.Reader()
	if err != nil {
		return fmt.Sprintf("%s cannot be read: %v", what, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Sprintf("%s cannot be read: %v", what, err)
	}
	if rule := ps.f.text(data, ""); rule != "" {
		return fmt.Sprintf("secret found: %s in %s", rule, what)
	}
	return ""
}

// commits scans the commits tip brings that are not known.
func (ps *pushScan) commits(tip plumbing.Hash) (string, error) {
	commits, err := ps.newCommits(tip)
	if err != nil {
		return "", err
	}
	for _, c := range commits {
		p, err := ps.commit(c)
		if err != nil {
			return "", err
		}
		if p != "" {
			return fmt.Sprintf("%s (commit %s)", p, c.Hash.String()[:12]), nil
		}
	}
	for _, c := range commits {
		ps.known[c.Hash] = true
	}
	return "", nil
}

// commit scans one commit: its headers and message, then what it changes
// against its first parent.
func (ps *pushScan) commit(c *object.Commit) (string, error) {
	obj, err := ps.st.EncodedObject(plumbing.CommitObject, c.Hash)
	if err != nil {
		return "", err
	}
	if p := ps.raw(obj, "the commit"); p != "" {
		for _, part := range []struct{ what, text string }{
			{"the commit message", c.Message},
			{"the commit's author", c.Author.Name + " <" + c.Author.Email + ">"},
			{"the commit's committer", c.Committer.Name + " <" + c.Committer.Email + ">"},
		} {
			if rule := ps.f.text([]byte(part.text), ""); rule != "" {
				return fmt.Sprintf("secret found: %s in %s", rule, part.what), nil
			}
		}
		return strings.Replace(p, "in the commit", "in the commit's headers", 1), nil
	}
	tree, err := c.Tree()
	if err != nil {
		return "", err
	}
	from := &object.Tree{}
	if c.NumParents() > 0 {
		p, err := c.Parent(0)
		if err != nil {
			return "", err
		}
		if from, err = p.Tree(); err != nil {
			return "", err
		}
	}
	return ps.changes(from, tree)
}

// changes scans what tree adds or changes against from: each path's name,
// then its content.
func (ps *pushScan) changes(from, tree *object.Tree) (string, error) {
	changes, err := object.DiffTree(from, tree)
	if err != nil {
		return "", err
	}
	for _, ch := range changes {
		path := ch.To.Name
		if path == "" {
			continue // deleted
		}
		if rule := ps.f.text([]byte(path), ""); rule != "" {
			return fmt.Sprintf("secret found: %s in a file's name", rule), nil
		}
		if !ch.To.TreeEntry.Mode.IsFile() {
			continue // a submodule: its commit is another repository's
		}
		p, err := ps.file(ch)
		if p != "" || err != nil {
			return p, err
		}
	}
	return "", nil
}

// sniffLen is how much of a file tells text from binary (git's 8000) and
// names an archive (a tar's magic is at 257).
const sniffLen = 8000

// file scans one added or changed file: the lines it adds, when it is
// text; whole, when it is binary, compressed or an archive.
func (ps *pushScan) file(ch *object.Change) (string, error) {
	blob, err := object.GetBlob(ps.st, ch.To.TreeEntry.Hash)
	if err != nil {
		return "", err
	}
	head, err := blobHead(blob)
	if err != nil {
		return "", err
	}
	path := clean(ch.To.Name)
	if sniff(head) != "" || isBinary(head) {
		return ps.blob(blob, path)
	}
	patch, err := ch.Patch()
	if err != nil {
		return "", err
	}
	var added strings.Builder
	for _, fp := range patch.FilePatches() {
		for _, c := range fp.Chunks() {
			if c.Type() == diff.Add {
				added.WriteString(c.Content())
			}
		}
	}
	if added.Len() == 0 {
		return "", nil
	}
	if rule := ps.f.text([]byte(added.String()), ch.To.Name); rule != "" {
		return fmt.Sprintf("secret found: %s in %s", rule, path), nil
	}
	return "", nil
}

// blob scans a file whole, at where; one larger than max_binary is refused
// unscanned.
func (ps *pushScan) blob(b *object.Blob, where string) (string, error) {
	if ps.blobs[b.Hash] {
		return "", nil
	}
	if b.Size > ps.maxBinary {
		return fmt.Sprintf("%s is a binary file of %d bytes, larger than max_binary (%d), so it is not scanned", where, b.Size, ps.maxBinary), nil
	}
	r, err := b.Reader()
	if err != nil {
		return "", err
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return "", err
	}
	cs := &contentScan{f: ps.f, budget: ps.maxBinary, max: ps.maxBinary}
	if p := cs.scan(data, where, 0); p != "" {
		return p, nil
	}
	ps.blobs[b.Hash] = true
	return "", nil
}

// blobHead is a blob's first sniffLen bytes.
func blobHead(b *object.Blob) ([]byte, error) {
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	return head[:n], nil
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
