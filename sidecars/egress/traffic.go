package egress

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"sync"

	"github.com/bottle-sandbox/bottle/internal/jsonl"
)

// countedBody counts what is read of a response's body and calls done
// once with the count: at its end (io.EOF), or when it is closed first.
type countedBody struct {
	io.ReadCloser
	n    int64
	once sync.Once
	done func(int64)
}

func (c *countedBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n += int64(n)
	if errors.Is(err, io.EOF) {
		c.once.Do(func() { c.done(c.n) })
	}
	return n, err
}

func (c *countedBody) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(func() { c.done(c.n) })
	return err
}

// HostTraffic is what the audit log says of one host: requests allowed
// and refused, and the bytes of the bodies each way (a tunnel's bytes go
// through the gateway unseen, and are not counted).
type HostTraffic struct {
	Host     string `json:"host"`
	Allowed  int    `json:"allowed"`
	Refused  int    `json:"refused"`
	Sent     int64  `json:"sent_bytes"`
	Received int64  `json:"received_bytes"`
}

// MaxAuditLine bounds a line of the audit log as its readers take it: the
// proxy writes none longer (each text at most MaxAuditText bytes, which
// JSON may write as six each), and passes over one that is, reading on.
const MaxAuditLine = 1 << 20

// Traffic sums an audit log (AuditFile) per host, the busiest first. A
// line that does not parse, or is longer than any the proxy writes, is
// skipped: the log is the proxy's, in a folder the agent's pod writes, and
// a summary of it is no proof.
func Traffic(r io.Reader) ([]HostTraffic, error) {
	var t Tally
	err := jsonl.Each(r, MaxAuditLine, t.count)
	return t.Hosts(), err
}

// Tally is Traffic kept as a log grows: a reader that shows it again and
// again (the dashboard, every second) reads only what was appended, where
// reading the whole log each time let the agent, which makes it as long as
// it likes, keep the reader busy.
type Tally struct {
	by  map[string]*HostTraffic
	off int64
}

// Offset is how much of the log the tally has counted: where Add reads on.
func (t *Tally) Offset() int64 { return t.off }

// Add counts the whole lines of r, the log from Offset on (a last line
// not ended yet is left for the next Add).
func (t *Tally) Add(r io.Reader) error {
	n, err := jsonl.Whole(r, MaxAuditLine, t.count)
	t.off += n
	return err
}

func (t *Tally) count(line []byte) {
	var e entry
	if json.Unmarshal(line, &e) != nil || e.Host == "" {
		return
	}
	if t.by == nil {
		t.by = map[string]*HostTraffic{}
	}
	h := t.by[e.Host]
	if h == nil {
		h = &HostTraffic{Host: e.Host}
		t.by[e.Host] = h
	}
	switch e.Decision {
	case "allow":
		h.Allowed++
	case "deny":
		h.Refused++
	case "received": // the size of a stream, at its end
	default:
		return // a note on an exchange counted already (inbound, mcp)
	}
	h.Sent += max(e.Bytes, 0)
	h.Received += max(e.Received, 0)
}

// Hosts are the tally's hosts, the busiest first.
func (t *Tally) Hosts() []HostTraffic {
	out := make([]HostTraffic, 0, len(t.by))
	for _, h := range t.by {
		out = append(out, *h)
	}
	slices.SortFunc(out, func(a, b HostTraffic) int {
		if d := (b.Allowed + b.Refused) - (a.Allowed + a.Refused); d != 0 {
			return d
		}
		if a.Host < b.Host {
			return -1
		}
		return 1
	})
	return out
}
