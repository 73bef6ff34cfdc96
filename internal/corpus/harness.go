package corpus

import (
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/bottle-sandbox/bottle/config"
)

// Upstream is a loopback upstream for the cases: it counts what reaches
// it and answers with the current case's response (or "ok"); handlers
// registered by path, and a WebSocket handler, answer for themselves.
type Upstream struct {
	mu        sync.Mutex
	received  int
	trailers  int
	response  []byte
	handlers  map[string]http.Handler
	WebSocket http.HandlerFunc
}

// SetResponse sets the raw HTTP response for what follows (nil: 200 ok).
func (u *Upstream) SetResponse(raw []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.response = raw
}

// Handle has h answer requests for path.
func (u *Upstream) Handle(path string, h http.Handler) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.handlers == nil {
		u.handlers = map[string]http.Handler{}
	}
	u.handlers[path] = h
}

// Counts are the requests that reached the upstream, and those of them
// that arrived with trailers (none may).
func (u *Upstream) Counts() (received, trailers int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.received, u.trailers
}

func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	h, ws := u.handlers[r.URL.Path], u.WebSocket
	u.mu.Unlock()
	if ws != nil && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		ws(w, r)
		return
	}
	if h != nil {
		h.ServeHTTP(w, r)
		return
	}
	io.Copy(io.Discard, r.Body)
	u.mu.Lock()
	u.received++
	if len(r.Trailer) > 0 {
		u.trailers++
	}
	resp := u.response
	u.mu.Unlock()
	if resp == nil {
		io.WriteString(w, "ok")
		return
	}
	hj, _ := w.(http.Hijacker)
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	c.Write(resp)
}

// Routes reads the corpus' routes file and points each route at an
// upstream: plain HTTP for a port-80-only route, else TLS with its CA.
func Routes(file, tlsURL, caFile, plainURL string) ([]config.Route, error) {
	var f struct{ Egress []config.Route }
	if _, err := toml.DecodeFile(file, &f); err != nil {
		return nil, err
	}
	for i := range f.Egress {
		r := &f.Egress[i]
		if len(r.Ports) == 1 && r.Ports[0] == 80 {
			r.Upstream = plainURL
		} else {
			r.Upstream, r.UpstreamCA = tlsURL, caFile
		}
	}
	return f.Egress, nil
}

// Result is what became of one request: "allow" or "block", and the
// answer (headers and body when allowed).
type Result struct{ Outcome, Detail string }

// Send sends a case's raw request through the proxy at addr and says what
// became of it, counting on up to tell whether it reached the upstream.
func (u *Upstream) Send(addr string, roots *x509.CertPool, raw []byte) (Result, error) {
	before, _ := u.Counts()
	resp, body, err := Send(addr, roots, raw)
	if err != nil {
		return Result{}, err
	}
	after, _ := u.Counts()
	reached := after > before
	switch {
	case !reached && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusBadGateway):
		return Result{"block", fmt.Sprintf("%d %s", resp.StatusCode, body)}, nil
	case reached && resp.StatusCode < 400:
		var head strings.Builder
		resp.Header.Write(&head)
		return Result{"allow", head.String() + "\n" + string(body)}, nil
	}
	return Result{}, fmt.Errorf("status %d, reached the upstream: %v: %s", resp.StatusCode, reached, body)
}

// InboundOutcome is what the proxy did to a response the agent got:
// "blocked", "marked", or "" (as sent).
func InboundOutcome(answer string) string {
	switch {
	case strings.Contains(answer, "bottle withheld this response"):
		return "blocked"
	case strings.Contains(answer, "[bottle: the content"), strings.Contains(answer, `"bottle_warning"`),
		strings.Contains(answer, "X-Bottle-Inbound"):
		return "marked"
	}
	return ""
}

// Verdict compares what became of a case's requests with what it expects:
// nil when they agree, else each difference. forms are the injected
// secret's forms, which no answer may hold.
func (c Case) Verdict(results []Result, forms [][]byte) []string {
	var diffs []string
	for i, r := range results {
		last := i == len(c.Requests)-1
		if r.Outcome != c.Expect[i] {
			diffs = append(diffs, fmt.Sprintf("request %d: %s, want %s (%s)\n%.600s", i+1, r.Outcome, c.Expect[i], c.About, strings.TrimSpace(r.Detail)))
		} else if r.Outcome == "block" && last && c.Why != "" && !strings.Contains(r.Detail, c.Why) {
			diffs = append(diffs, fmt.Sprintf("request %d: blocked, but not for %q: %s", i+1, c.Why, r.Detail))
		}
		if r.Outcome == "allow" && last {
			if what := InboundOutcome(r.Detail); what != c.Inbound {
				diffs = append(diffs, fmt.Sprintf("the response reached the agent %s, want %s (%s)\n%.600s", asSent(what), asSent(c.Inbound), c.About, r.Detail))
			}
		}
		for _, f := range forms {
			if strings.Contains(r.Detail, string(f)) {
				diffs = append(diffs, fmt.Sprintf("request %d: the answer holds the injected secret (as %q)", i+1, f))
			}
		}
	}
	return diffs
}

func asSent(s string) string {
	if s == "" {
		return "as sent"
	}
	return s
}
