package gitgate

import (
	"encoding/json"
	"os"
	"sync"
	"time"
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
