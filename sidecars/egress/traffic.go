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
	by := map[string]*HostTraffic{}
	err := jsonl.Each(r, MaxAuditLine, func(line []byte) {
		var e entry
		if json.Unmarshal(line, &e) != nil || e.Host == "" {
			return
		}
		t := by[e.Host]
		if t == nil {
			t = &HostTraffic{Host: e.Host}
			by[e.Host] = t
		}
		switch e.Decision {
		case "allow":
			t.Allowed++
		case "deny":
			t.Refused++
		case "received": // the size of a stream, at its end
		default:
			return // a note on an exchange counted already (inbound, mcp)
		}
		t.Sent += max(e.Bytes, 0)
		t.Received += max(e.Received, 0)
	})
	out := make([]HostTraffic, 0, len(by))
	for _, t := range by {
		out = append(out, *t)
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
	return out, err
}
