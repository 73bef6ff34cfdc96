package egress

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
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
	Bytes    int64     `json:"bytes,omitempty"`
}

type auditLog struct {
	mu sync.Mutex
	f  *os.File
}

func openAudit(path string) (*auditLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return &auditLog{f: f}, nil
}

// log appends one JSON line; a line is written whole, under the lock.
func (a *auditLog) log(e entry) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	line, _ := json.Marshal(e)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.f.Write(append(line, '\n'))
}
