package gitgate

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/bottle-sandbox/bottle/internal/beneath"
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

func (a *audit) write(e auditEntry) error {
	e.Time = time.Now().UTC()
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(line, '\n'))
	return err
}

// AuditTail is the last n ref decisions of a gate's audit (dir), a line each:
// time, decision, remote, branch or tag, new id, reason. Ref names come from
// the agent: a terminal must sanitize them.
func AuditTail(dir beneath.Dir, n int) []string {
	var lines []string
	readAudit(dir, func(e auditEntry, r auditRef) {
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
// order; a missing audit has none, an unreadable line is passed over.
func readAudit(dir beneath.Dir, each func(auditEntry, auditRef)) error {
	f, err := dir.Open(AuditFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e auditEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		for _, r := range e.Refs {
			each(e, r)
		}
	}
	return sc.Err()
}
