package gitgate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/jsonl"
	"github.com/go-git/go-git/v5/plumbing"
)

// auditEntry is one push, one JSON line in AuditFile.
type auditEntry struct {
	Time   time.Time  `json:"time"`
	Remote string     `json:"remote"`
	Mode   string     `json:"mode"`
	Refs   []auditRef `json:"refs"`
}

type auditRef struct {
	Ref      string `json:"ref"`
	Old      string `json:"old"`
	New      string `json:"new"`
	Decision string `json:"decision"` // accepted (forwarded), held, refused
	Reason   string `json:"reason,omitempty"`
}

type audit struct {
	mu   sync.Mutex
	path string
}

// Bounds on the audit's lines: the agent names the refs of a push (as many
// as it likes, each as long as it likes) and so what a reason quotes; a line
// of megabytes stopped every reader of the log there, and what the agent
// pushed after it never showed. A text is cut, saying how long it was (the
// cut name, with a space, names no ref), and a push with many refs takes a
// line per auditRefs of them.
const (
	maxAuditText = 2048
	auditRefs    = 64
	// maxAuditLine is the longest line a reader takes (JSON may write a
	// byte as six); a longer one is passed over, and reading goes on.
	maxAuditLine = 16 << 20
	// tailWindow is how much of the audit's end AuditTail reads: lines
	// of 64 refs, each text cut, take less than a tenth of it.
	tailWindow = 32 << 20
)

func (a *audit) write(e auditEntry) error {
	e.Time = time.Now().UTC()
	var buf []byte
	for i := 0; i == 0 || i < len(e.Refs); i += auditRefs {
		part := e
		part.Refs = slices.Clone(e.Refs[i:min(i+auditRefs, len(e.Refs))])
		for j := range part.Refs {
			part.Refs[j].Ref, part.Refs[j].Reason = cut(part.Refs[j].Ref), cut(part.Refs[j].Reason)
		}
		line, err := json.Marshal(part)
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(buf)
	return err
}

// cut is s, or its first maxAuditText bytes (at a character) and how long
// it was.
func cut(s string) string {
	if len(s) <= maxAuditText {
		return s
	}
	n := maxAuditText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s… (cut: %d bytes in all)", s[:n], len(s))
}

// AuditTail is the last n ref decisions of a gate's audit (dir), a line each:
// time, decision, remote, branch or tag, new id, reason. Ref names come from
// the agent: a terminal must sanitize them.
func AuditTail(dir beneath.Dir, n int) []string {
	var lines []string
	f, err := dir.Open(AuditFile)
	if err != nil {
		return nil
	}
	defer f.Close()
	// Only the end: the dashboard reads this with every refresh, and the
	// agent's pushes make the audit as long as it likes.
	end, err := jsonl.End(f, tailWindow)
	if err != nil {
		return nil
	}
	readAuditFrom(end, func(e auditEntry, r auditRef) {
		id := r.New
		if len(id) > 12 {
			id = id[:12]
		}
		line := fmt.Sprintf("%s %-8s %s %s %s", e.Time.Local().Format("15:04:05"), r.Decision, e.Remote,
			plumbing.ReferenceName(r.Ref).Short(), id)
		if r.Reason != "" {
			line += "  " + r.Reason
		}
		lines = append(lines, line)
		if len(lines) > n {
			lines = lines[1:]
		}
	})
	return lines
}

// readAudit calls each for every ref decision of a gate's audit (dir), in
// order; a missing audit has none, an unreadable line (or one longer than
// the gate writes) is passed over.
func readAudit(dir beneath.Dir, each func(auditEntry, auditRef)) error {
	f, err := dir.Open(AuditFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return readAuditFrom(f, each)
}

func readAuditFrom(r io.Reader, each func(auditEntry, auditRef)) error {
	return jsonl.Each(r, maxAuditLine, func(line []byte) {
		var e auditEntry
		if json.Unmarshal(line, &e) != nil {
			return
		}
		for _, r := range e.Refs {
			each(e, r)
		}
	})
}
