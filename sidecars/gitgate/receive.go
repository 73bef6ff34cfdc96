package gitgate

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
)

// errTooLarge stops a push past the remote's max_push.
var errTooLarge = errors.New("too large")

type limitedReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// receivePack takes a push: the pack goes into the mirror's object store
// (objects alone change nothing), then every ref update is checked against
// the rules and the secret scan, forwarded upstream in forward mode, and only
// then set in the mirror. Each ref gets its own answer.
func (s *Server) receivePack(w http.ResponseWriter, r *http.Request, rm *remote) {
	const ct = "application/x-git-receive-pack-result"
	in, err := body(r)
	if err != nil {
		pktError(w, ct, err.Error())
		return
	}
	lr := &limitedReader{r: in, left: rm.Rules.MaxPush, limit: rm.Rules.MaxPush}
	if lr.left <= 0 {
		lr.left = 1 << 62
	}
	req := packp.NewReferenceUpdateRequest()
	if err := req.Decode(lr); err != nil {
		pktError(w, ct, "bad push request: "+err.Error())
		return
	}
	// Again here: a client need not ask for the refs before it pushes.
	if err := s.refreshForPush(r.Context(), rm); err != nil {
		pktError(w, ct, err.Error())
		return
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	entry := auditEntry{Remote: rm.Name, Mode: rm.Mode}
	report := &packp.ReportStatus{UnpackStatus: "ok"}
	unpack := ""
	if req.Packfile != nil {
		err := packfile.UpdateObjectStorage(rm.repo.Storer, req.Packfile)
		req.Packfile.Close()
		switch {
		case errors.Is(err, errTooLarge) || lr.left <= 0:
			unpack = fmt.Sprintf("push is larger than max_push (%d bytes)", lr.limit)
		case err != nil && !errors.Is(err, packfile.ErrEmptyPackfile):
			unpack = "cannot store the pack: " + err.Error()
		}
	}
	f, err := newFinder(s.injected)
	if err != nil {
		pktError(w, ct, "cannot scan the push for secrets: "+err.Error())
		return
	}
	// A name that carries a secret is refused, and kept out of the audit.
	named := map[plumbing.ReferenceName]string{}
	refName := func(c *packp.Command) string {
		if _, ok := named[c.Name]; ok {
			return withheld
		}
		return c.Name.String()
	}
	for _, c := range req.Commands {
		if why := f.refName(c.Name); why != "" {
			named[c.Name] = why
		}
	}
	if unpack != "" {
		report.UnpackStatus = unpack
		for _, c := range req.Commands {
			report.CommandStatuses = append(report.CommandStatuses, &packp.CommandStatus{ReferenceName: c.Name, Status: "refused: " + unpack})
			entry.Refs = append(entry.Refs, auditRef{Ref: refName(c), Old: c.Old.String(), New: c.New.String(), Decision: "refused", Reason: unpack})
		}
		s.finish(w, rm, report, entry)
		return
	}
	var scan *pushScan // made by the first ref that needs it
	for _, c := range req.Commands {
		reason := named[c.Name]
		if reason == "" {
			reason = s.decide(rm, c, f, &scan)
		}
		ar := auditRef{Ref: refName(c), Old: c.Old.String(), New: c.New.String(), Decision: "accepted"}
		if reason == "" && rm.Mode == "forward" && rm.Upstream != "" {
			if err := s.upstream.push(r.Context(), rm, c); err != nil {
				reason = "upstream refused it: " + err.Error()
			}
		}
		if reason == "" {
			if err := rm.repo.Storer.SetReference(plumbing.NewHashReference(c.Name, c.New)); err != nil {
				reason = "cannot update the gate's mirror: " + err.Error()
			}
		}
		status := "ok"
		if reason != "" {
			status, ar.Decision, ar.Reason = reason, "refused", reason
		} else if rm.Mode == "hold" {
			ar.Decision = "held"
		}
		report.CommandStatuses = append(report.CommandStatuses, &packp.CommandStatus{ReferenceName: c.Name, Status: status})
		entry.Refs = append(entry.Refs, ar)
	}
	s.finish(w, rm, report, entry)
}

func (s *Server) finish(w http.ResponseWriter, rm *remote, report *packp.ReportStatus, entry auditEntry) {
	if err := s.audit.write(entry); err != nil {
		slog.Warn("audit", "remote", rm.Name, "err", err)
	}
	w.Header().Set("Content-Type", "application/x-git-receive-pack-result")
	if err := report.Encode(w); err != nil {
		slog.Warn("receive-pack report", "remote", rm.Name, "err", err)
	}
}

// withheld stands in the audit for a ref name that carries a secret.
const withheld = "[withheld: it carries a secret]"

// decide applies the rules and the secret scan to one ref update; scan is
// the push's, made here when first needed.
func (s *Server) decide(rm *remote, c *packp.Command, f *finder, scan **pushScan) string {
	if err := c.Name.Validate(); err != nil || strings.ContainsFunc(c.Name.String(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "not a valid ref name"
	}
	st := rm.repo.Storer
	// The old id must be what the gate has: the agent pushes against the
	// refs the gate advertised.
	cur, err := st.Reference(c.Name)
	switch {
	case err == nil && cur.Hash() != c.Old:
		return fmt.Sprintf("stale: the gate has %s at %s (fetch first)", c.Name.Short(), cur.Hash().String()[:12])
	case err != nil && !c.Old.IsZero():
		return fmt.Sprintf("stale: the gate has no %s (fetch first)", c.Name.Short())
	}
	u := Update{Ref: c.Name, Old: c.Old, New: c.New}
	if !c.Old.IsZero() && !c.New.IsZero() {
		u.FastForward = isAncestor(st, c.Old, c.New)
	}
	if reason := rm.Rules.Check(u, s.config.Identity, defaultBranch(st)); reason != "" {
		return reason
	}
	if c.New.IsZero() {
		return ""
	}
	if _, err := st.EncodedObject(plumbing.AnyObject, c.New); err != nil {
		return fmt.Sprintf("the push did not send %s", c.New)
	}
	if *scan == nil {
		ps, err := newPushScan(st, f, rm.Rules.MaxBinary)
		if err != nil {
			return "cannot scan the push for secrets: " + err.Error()
		}
		*scan = ps
	}
	finding, err := (*scan).scan(c.New)
	if err != nil {
		return "cannot scan the push for secrets: " + err.Error()
	}
	return finding
}

// isAncestor reports whether old is reachable from new.
func isAncestor(st storerAll, old, new plumbing.Hash) bool {
	oc, err := object.GetCommit(st, old)
	if err != nil {
		return false
	}
	nc, err := object.GetCommit(st, new)
	if err != nil {
		return false
	}
	ok, err := oc.IsAncestor(nc)
	return err == nil && ok
}

// defaultBranch is the branch the mirror's HEAD names: the upstream's default.
func defaultBranch(st storerAll) string {
	head, err := st.Reference(plumbing.HEAD)
	if err != nil || head.Type() != plumbing.SymbolicReference {
		return ""
	}
	return strings.TrimPrefix(head.Target().String(), "refs/heads/")
}
