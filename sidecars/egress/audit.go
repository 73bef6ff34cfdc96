package egress

import (
	"fmt"
	"os"
	"strconv"
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
	spare   []byte // a buffer written out, kept for the next lines
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
	a.mu.Lock()
	if a.pending == nil {
		a.pending, a.spare = a.spare, nil
	}
	a.pending = append(e.appendJSON(a.pending), '\n')
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
		if cap(buf) <= 64<<10 { // a burst's larger one goes
			a.spare = buf[:0]
		}
	}
	a.writing = false
	a.mu.Unlock()
}

// appendJSON appends the entry as encoding/json writes it (the same keys,
// omissions and escapes: the audit's readers see no difference), without
// its reflection and allocations: a line is written for every request.
func (e *entry) appendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, e.Host)
	if e.Path != "" {
		b = append(b, `,"path":`...)
		b = appendJSONString(b, e.Path)
	}
	if e.Route != "" {
		b = append(b, `,"route":`...)
		b = appendJSONString(b, e.Route)
	}
	b = append(b, `,"decision":`...)
	b = appendJSONString(b, e.Decision)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, e.Reason)
	if e.Status != 0 {
		b = strconv.AppendInt(append(b, `,"status":`...), int64(e.Status), 10)
	}
	if e.Bytes != 0 {
		b = strconv.AppendInt(append(b, `,"bytes":`...), e.Bytes, 10)
	}
	if e.Received != 0 {
		b = strconv.AppendInt(append(b, `,"received":`...), e.Received, 10)
	}
	return append(b, '}')
}

// appendJSONString quotes s as encoding/json does: HTML's <, > and &
// escaped, as are control characters, U+2028 and U+2029, and each byte
// that is not UTF-8 made U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}
