package gitgate

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
)

// uploadRequest is one round of a stateless fetch (protocol v0).
type uploadRequest struct {
	wants, haves []plumbing.Hash
	done         bool
	caps         []string // from the first want line
}

// parseUploadRequest reads want lines, a flush, have lines and maybe done.
func parseUploadRequest(r io.Reader) (*uploadRequest, error) {
	req := &uploadRequest{}
	sc := pktline.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSuffix(string(sc.Bytes()), "\n")
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "":
			// a flush between the wants and the haves
		case "want", "have":
			h := rest
			if len(h) > 40 {
				if word == "want" && req.caps == nil {
					req.caps = strings.Fields(h[40:])
				}
				h = h[:40] // the first want carries capabilities
			}
			if !plumbing.IsHash(h) {
				return nil, fmt.Errorf("bad %s line %q", word, line)
			}
			if word == "want" {
				req.wants = append(req.wants, plumbing.NewHash(h))
			} else {
				req.haves = append(req.haves, plumbing.NewHash(h))
			}
		case "done":
			req.done = true
		case "shallow", "deepen", "deepen-since", "deepen-not":
			return nil, fmt.Errorf("the git gate does not serve shallow fetches (%s): fetch without --depth", word)
		case "filter":
			return nil, fmt.Errorf("the git gate does not serve partial clones: fetch without --filter")
		default:
			return nil, fmt.Errorf("unexpected line %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(req.wants) == 0 {
		return nil, fmt.Errorf("no want line")
	}
	return req, nil
}

// uploadPack answers a fetch (protocol v0, stateless): each round without
// "done" gets acknowledgements alone; the round with "done" the last common
// commit's ACK (or NAK), then the pack of what the wants reach beyond the
// common commits.
func (s *Server) uploadPack(w http.ResponseWriter, r *http.Request, rm *remote) {
	const ct = "application/x-git-upload-pack-result"
	in, err := body(r)
	if err != nil {
		pktError(w, ct, err.Error())
		return
	}
	raw, err := io.ReadAll(io.LimitReader(in, 64<<20))
	if err != nil {
		pktError(w, ct, err.Error())
		return
	}
	req, err := parseUploadRequest(bytes.NewReader(raw))
	if err != nil {
		pktError(w, ct, err.Error())
		return
	}
	// go-git's storage loads its pack indexes lazily, unguarded: one
	// request at a time reads a mirror.
	rm.mu.Lock()
	defer rm.mu.Unlock()
	st := rm.repo.Storer
	var common []plumbing.Hash
	for _, h := range req.haves {
		if st.HasEncodedObject(h) == nil {
			common = append(common, h)
		}
	}
	w.Header().Set("Content-Type", ct)
	e := pktline.NewEncoder(w)
	detailed := slices.Contains(req.caps, "multi_ack_detailed")
	if !req.done {
		// A round: with multi_ack_detailed, every have the gate has is
		// acknowledged as common (the client sends them again in its
		// last round, so the pack can leave them out), then NAK. Without
		// it, the first common one alone, or NAK.
		switch {
		case detailed:
			for _, h := range common {
				e.Encodef("ACK %s common\n", h)
			}
			e.Encodef("NAK\n")
		case len(common) > 0:
			e.Encodef("ACK %s\n", common[0])
		default:
			e.Encodef("NAK\n")
		}
		return
	}
	for _, h := range req.wants {
		if st.HasEncodedObject(h) != nil {
			pktError(w, ct, fmt.Sprintf("not our ref %s", h))
			return
		}
	}
	objs, err := objectsBetween(st, req.wants, common)
	if err != nil {
		pktError(w, ct, err.Error())
		return
	}
	if len(common) > 0 {
		e.Encodef("ACK %s\n", common[len(common)-1])
	} else {
		e.Encodef("NAK\n")
	}
	var pack io.Writer = w
	var mux *sideband.Muxer
	switch {
	case slices.Contains(req.caps, "side-band-64k"):
		mux = sideband.NewMuxer(sideband.Sideband64k, w)
	case slices.Contains(req.caps, "side-band"):
		mux = sideband.NewMuxer(sideband.Sideband, w)
	}
	if mux != nil {
		pack = mux
		// What the agent should know, shown by its git as "remote: ...".
		if msg := rm.refreshErr; msg != "" {
			mux.WriteChannel(sideband.ProgressMessage, []byte("bottle git gate: "+msg+"\n"))
		}
	}
	if _, err := packfile.NewEncoder(pack, st, false).Encode(objs, 10); err != nil {
		slog.Warn("upload-pack", "remote", rm.Name, "err", err)
		return
	}
	if mux != nil {
		e.Flush()
	}
}

// objectsBetween lists the objects wants reach that haves do not, the way
// git does without bitmaps: the commits between them, and of their trees what
// the boundary commits' trees lack. Only the haves' commit graph is walked,
// never every tree of their history.
func objectsBetween(st storerAll, wants, haves []plumbing.Hash) ([]plumbing.Hash, error) {
	have := commitsReachable(st, haves)
	var out []plumbing.Hash
	var commits []*object.Commit
	var trees []plumbing.Hash // wanted directly, through a tag
	boundary := map[plumbing.Hash]bool{}
	seen := map[plumbing.Hash]bool{}
	stack := slices.Clone(wants)
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if have[h] {
			boundary[h] = true
			continue
		}
		if seen[h] {
			continue
		}
		seen[h] = true
		o, err := st.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return nil, fmt.Errorf("object %s: %w", h, err)
		}
		switch o.Type() {
		case plumbing.CommitObject:
			c, err := object.DecodeCommit(st, o)
			if err != nil {
				return nil, err
			}
			out, commits = append(out, h), append(commits, c)
			stack = append(stack, c.ParentHashes...)
		case plumbing.TagObject:
			t, err := object.DecodeTag(st, o)
			if err != nil {
				return nil, err
			}
			out = append(out, h)
			stack = append(stack, t.Target)
		case plumbing.TreeObject:
			trees = append(trees, h)
		default:
			out = append(out, h)
		}
	}
	// What the client has: every tree and blob of the boundary commits.
	done := map[plumbing.Hash]bool{}
	for h := range boundary {
		c, err := object.GetCommit(st, h)
		if err != nil {
			return nil, err
		}
		if err := walkTree(st, c.TreeHash, done, nil); err != nil {
			return nil, err
		}
	}
	for _, c := range commits {
		trees = append(trees, c.TreeHash)
	}
	for _, t := range trees {
		if err := walkTree(st, t, done, func(h plumbing.Hash) { out = append(out, h) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// walkTree visits a tree and what it holds, skipping what done already has
// (a tree in done is had whole), and marks all it visits done.
func walkTree(st storerAll, h plumbing.Hash, done map[plumbing.Hash]bool, add func(plumbing.Hash)) error {
	if done[h] {
		return nil
	}
	done[h] = true
	if add != nil {
		add(h)
	}
	t, err := object.GetTree(st, h)
	if err != nil {
		return fmt.Errorf("tree %s: %w", h, err)
	}
	for _, e := range t.Entries {
		switch {
		case e.Mode == filemode.Dir:
			if err := walkTree(st, e.Hash, done, add); err != nil {
				return err
			}
		case e.Mode == filemode.Submodule || done[e.Hash]:
		default:
			done[e.Hash] = true
			if add != nil {
				add(e.Hash)
			}
		}
	}
	return nil
}
