package egress

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// entry is one line of the audit log: one decision.
type entry struct {
	Time     time.Time `json:"time"`
	Method   string    `json:"method"`
	Host     string    `json:"host"`
	Path     string    `json:"path,omitempty"`
	Route    string    `json:"route,omitempty"`
	Decision string    `json:"decision"`
	Reason   string    `json:"reason"`
	Status   int       `json:"status,omitempty"`
	Bytes    int64     `json:"bytes,omitempty"`    // the request's body, as sent upstream (-1: not known)
	Received int64     `json:"received,omitempty"` // the response's body, as handed to the agent
}

// MaxAuditText bounds each text of an entry (a path, a reason that quotes
// one): the agent chooses them, up to a request line of 1 MiB (more inside
// an intercepted connection), each byte of which JSON may write as six; a
// line of megabytes is no record a person reads, and readers of the log
// pass over lines past their bound.
const MaxAuditText = 2048

// bound cuts each text of e to MaxAuditText bytes, at a character, saying
// how long it was.
func (e *entry) bound() {
	for _, f := range []*string{&e.Method, &e.Host, &e.Path, &e.Route, &e.Decision, &e.Reason} {
		if len(*f) > MaxAuditText {
			cut := MaxAuditText
			for cut > 0 && !utf8.RuneStart((*f)[cut]) {
				cut--
			}
			*f = fmt.Sprintf("%s… (cut: %d bytes in all)", (*f)[:cut], len(*f))
		}
	}
}

type auditLog struct {
	mu      sync.Mutex
	f       *os.File
	pending []byte // lines not written yet
	writing bool   // a caller is writing them
}

func openAudit(path string) (*auditLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return &auditLog{f: f}, nil
}

// log appends one JSON line. Lines are written whole and in order; under
// load, the lines logged while one write is under way go in the next one
// (one write for many, no caller waiting on another's).
func (a *auditLog) log(e entry) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	e.bound()
	line, _ := json.Marshal(e)
	a.mu.Lock()
	a.pending = append(append(a.pending, line...), '\n')
	if a.writing {
		a.mu.Unlock()
		return
	}
	a.writing = true
	for len(a.pending) > 0 {
		buf := a.pending
		a.pending = nil
		a.mu.Unlock()
		a.f.Write(buf)
		a.mu.Lock()
	}
	a.writing = false
	a.mu.Unlock()
}
