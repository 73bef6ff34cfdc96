package egress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/elazarl/goproxy"
)

// A body's room in the budget is taken before the body is read (taking it
// as the bytes came would let two half-read bodies wait on each other for
// good). So a body that stops coming, or trickles, must not keep that room:
// while it holds room, the client's connection gets read deadlines. A body
// that sends nothing for stallAfter, or arrives slower on average than
// slowestBody after its first stallAfter, is cut: the room goes back at
// once, the client gets a 408 and its connection is closed. The agent
// talks to the proxy over the pod's loopback, where a body comes at
// hundreds of MiB a second; one that does not is stalled, not slow.

const (
	// stallAfter is the longest a body holding room may send nothing.
	stallAfter = 10 * time.Second
	// slowestBody is the least average rate, in bytes a second, of a body
	// holding room, after its first stallAfter.
	slowestBody = 1 << 20
)

// connKey keeps, in a request's context, the client connection it came on.
type connKey struct{}

// withConn is the server's ConnContext: each plain request knows its
// connection (one inside an intercepted CONNECT knows it from the CONNECT's
// context, through tunnelled).
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// connOf is the client connection a request came on, or nil.
func connOf(ctx context.Context) net.Conn {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	return c
}

// errStalled is what a request whose body stopped coming is told.
type errStalled struct{ stall time.Duration }

func (e errStalled) Error() string {
	return fmt.Sprintf("the request body stopped coming while it held room to be scanned (nothing for %s, or under %d MiB/s on average): the connection is closed; send it again whole", e.stall, slowestBody>>20)
}

// pacedBody reads a body holding room in the budget, each read under a
// deadline on the client connection: stall from now, and never later than
// end (when what the body may be should have arrived at slowestBody).
type pacedBody struct {
	r       io.Reader
	conn    net.Conn // nil: the body is read as it comes
	stall   time.Duration
	end     time.Time
	stalled bool
}

func (b *budget) pace(r io.Reader, conn net.Conn) *pacedBody {
	return &pacedBody{r: r, conn: conn, stall: b.stall}
}

// allow gives the body, from now, the time n bytes of it may take.
func (p *pacedBody) allow(n int64) {
	p.end = time.Now().Add(p.stall + time.Duration(n)*time.Second/slowestBody)
}

func (p *pacedBody) Read(b []byte) (int, error) {
	if p.conn == nil {
		return p.r.Read(b)
	}
	deadline := time.Now().Add(p.stall)
	if deadline.After(p.end) {
		deadline = p.end
	}
	p.conn.SetReadDeadline(deadline)
	n, err := p.r.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		p.stalled = true
	}
	return n, err
}

// done ends the pacing: the connection's reads have no deadline again,
// unless the body stalled (the connection is closed after the answer, and
// what is left of the body must not be waited for); it says whether the
// body stalled.
func (p *pacedBody) done() bool {
	if p.conn != nil && !p.stalled {
		p.conn.SetReadDeadline(time.Time{})
	}
	return p.stalled
}

// stalledBody answers a request whose body stopped coming: a 408, and the
// connection closed, since the rest of the body may still come.
func stalledBody(r *http.Request, reason string) *http.Response {
	body, _ := json.Marshal(map[string]string{
		"error":  "request body stalled",
		"reason": reason,
		"advice": "Nothing was refused: the proxy reads every body whole to scan it, and a body that stops coming gives its room to others. Send the request again with its whole body.",
	})
	resp := goproxy.NewResponse(r, "application/json", http.StatusRequestTimeout, string(body)+"\n")
	resp.Header.Set("Connection", "close")
	resp.Close = true
	return resp
}
