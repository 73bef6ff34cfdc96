package egress

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/inbound"
)

// A WebSocket is not a raw pipe here. An upgrade is refused unless the
// route says websocket = true; then the connection is read as RFC 6455
// defines it, both ways: a message is held until its last fragment has
// come (up to maxMessage) and goes on only once scanned whole, so nothing
// of it reaches the other side first; control frames (ping, pong, close)
// are at most 125 bytes, never fragmented, and scanned too. What the agent
// sends goes through the outbound DLP (with the split watch of its host),
// text and binary messages alike; what comes back has the route's secret
// taken out (an echo would hand it to the agent), and text, or binary that
// decodes as text, goes through the inbound scan. A message the DLP stops,
// or one the inbound mode blocks, closes the connection (status 1008,
// policy violation) with the reason; a frame the RFC does not allow closes
// it with 1002, a message too large to scan with 1009; a marked message
// reaches the agent with the warning in front of it. Compression
// (permessage-deflate) is not offered upstream, so frames can be read; a
// frame with a reserved bit set is refused.

// maxMessage bounds one message (all its frames); a longer one closes the
// connection, as nothing passes unscanned.
const maxMessage = 16 << 20

// maxControl is the longest payload of a control frame (RFC 6455, 5.5).
const maxControl = 125

// Close codes (RFC 6455, 7.4.1).
const (
	closeProtocol = 1002
	closePolicy   = 1008
	closeTooBig   = 1009
	closeTryAgain = 1013
)

func isUpgrade(h http.Header) bool {
	return headerHas(h, "Connection", "upgrade") && headerHas(h, "Upgrade", "websocket")
}

func headerHas(h http.Header, name, value string) bool {
	for _, v := range headerList(h.Values(name)) {
		if v == value {
			return true
		}
	}
	return false
}

// wsConn stands between goproxy's relay and the upstream connection:
// Write carries the agent's frames up, Read the upstream's down, each
// message whole once it was scanned.
type wsConn struct {
	p     *Proxy
	x     *exchange
	up    io.ReadWriteCloser
	mode  string
	scrub []*scrubber // the secrets taken out of what comes back

	umu     sync.Mutex    // writes to up, and out
	out     messageReader // the agent's frames, as they are written
	rmu     sync.Mutex    // in and buf, while the upstream is read
	in      messageReader // the upstream's frames, as they are read
	buf     []byte
	reading sync.Once // starts readLoop

	mu    sync.Mutex
	ready *sync.Cond // on mu: pending, closed or rerr changed
	// pending are frames ready for the agent; closed once a close frame
	// has been queued for it.
	pending    []byte
	pendingFor []func() // the room pending holds in the budget
	closed     bool
	rerr       error // the upstream's, once it ended
}

func newWSConn(p *Proxy, x *exchange, up io.ReadWriteCloser) *wsConn {
	mode := x.route.Inbound
	if mode == "" {
		mode = config.InboundAuto
	}
	hold := func(n int64) (func(), error) { return p.budget.take(context.Background(), n) }
	c := &wsConn{p: p, x: x, up: up, mode: mode, out: messageReader{fromClient: true, hold: hold}, in: messageReader{hold: hold}}
	c.ready = sync.NewCond(&c.mu)
	c.scrub = p.scrubbersOf(x.route)
	return c
}

// Write takes the agent's bytes and passes on each control frame, and
// each message once it is whole and scanned.
func (c *wsConn) Write(b []byte) (int, error) {
	c.umu.Lock()
	defer c.umu.Unlock()
	if c.isClosed() {
		return len(b), nil // refused already: nothing more goes up
	}
	c.out.feed(b)
	for {
		u, bad := c.out.next()
		if bad != nil {
			c.refuse(bad.code, bad.reason, true)
			return len(b), nil
		}
		if u == nil {
			return len(b), nil
		}
		// A refusal is not an error here: the relay keeps reading, so the
		// agent gets the close frame and its reason before the connection
		// ends.
		why := c.outbound(u)
		if why == "" && u.op < opClose {
			// An MCP server over a WebSocket: its calls as over HTTP, a
			// refused one answered with its error.
			if calls := parseRPC(c.x.Host, u.payload); len(calls) > 0 {
				if why = c.p.refusedCalls(c.x.route, calls); why != "" {
					if answer := rpcRefusal(calls, why); answer != nil {
						u.release()
						c.deny(why)
						c.mu.Lock()
						c.queue(frame(opText, answer, false))
						c.mu.Unlock()
						continue
					}
				}
			}
		}
		if why != "" {
			u.release()
			c.refuse(closePolicy, why, true)
			return len(b), nil
		}
		_, err := c.up.Write(frame(u.op, u.payload, true))
		u.release()
		if err != nil {
			return 0, err
		}
	}
}

// outbound says why a message or control frame from the agent may not go
// up: "" when it may.
func (c *wsConn) outbound(u *wsUnit) string {
	s := c.p.scanner.Without(c.x.route.DLPOff...)
	what := "message"
	if u.op >= opClose {
		what = "control frame"
	}
	if found := s.Scan(u.payload, "websocket "+what); found != nil {
		return "the " + what + " carries a secret (" + describe(found) + ")"
	}
	if found := c.p.split.checkPlaced(s, c.x.Host, messageFragments(u.payload)); found != nil {
		return "the " + what + " carries a secret (" + describe(found) + ", sent in pieces)"
	}
	return ""
}

// Read gives the agent what is queued for it: the upstream's frames, each
// message whole once it was scanned, and the proxy's own answers. A reader
// of its own takes the upstream's frames, one batch at a time, so that an
// answer the proxy queues does not wait for the upstream to speak.
func (c *wsConn) Read(b []byte) (int, error) {
	c.reading.Do(func() { go c.readLoop() })
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.pending) == 0 {
		switch {
		case c.closed:
			return 0, io.EOF
		case c.rerr != nil:
			return 0, c.rerr
		}
		c.ready.Wait()
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
		for _, f := range c.pendingFor {
			f()
		}
		c.pendingFor = nil
		c.ready.Broadcast() // the reader may read on
	}
	return n, nil
}

// readLoop reads the upstream until it ends, waiting while what it queued
// has not been read: at most one read's worth waits for the agent.
func (c *wsConn) readLoop() {
	for {
		c.mu.Lock()
		for len(c.pending) > 0 && !c.closed {
			c.ready.Wait()
		}
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return
		}
		err := c.readUp()
		c.mu.Lock()
		if err != nil {
			c.rerr = err
		}
		c.ready.Broadcast()
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// queue adds frames for the agent; the caller holds mu.
func (c *wsConn) queue(frames []byte) {
	if !c.closed {
		c.pending = append(c.pending, frames...)
		c.ready.Broadcast()
	}
}

// readUp reads from the upstream once and queues for the agent what it
// makes whole; it returns the upstream's error.
func (c *wsConn) readUp() error {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.buf == nil {
		c.buf = make([]byte, 32<<10)
	}
	n, err := c.up.Read(c.buf)
	c.in.feed(c.buf[:n])
	for {
		u, bad := c.in.next()
		if bad != nil {
			c.refuse(bad.code, bad.reason, false)
			break
		}
		if u == nil {
			break
		}
		out, why := c.inbound(u)
		if why != "" {
			u.release()
			c.refuse(closePolicy, why, false)
			break
		}
		c.mu.Lock()
		if !c.closed {
			c.queue(out)
			c.pendingFor, u.held = append(c.pendingFor, u.held...), nil // its room goes once the agent has read it
		}
		c.mu.Unlock()
		u.release()
	}
	return err
}

// inbound is what the agent gets of a message or control frame from the
// upstream, as a frame: the secrets scrubbed, then the inbound scan's
// verdict on text; or why it is withheld.
func (c *wsConn) inbound(u *wsUnit) ([]byte, string) {
	payload := u.payload
	for _, sc := range c.scrub {
		payload = sc.replace(payload)
	}
	if u.op >= opClose {
		if len(payload) > maxControl {
			payload = payload[:maxControl]
		}
		if u.op == opClose && len(payload) > 2 && inbound.Scan(payload[2:], "text/plain") != nil {
			payload = payload[:2] // a close's reason the agent may read
		}
		return frame(u.op, payload, false), ""
	}
	if u.op == opText || utf8.Valid(payload) {
		if out, withheld := c.p.mcp.result(c.x.Host, nil, payload); len(withheld) > 0 {
			e := c.x.entry
			e.Decision, e.Reason = "mcp", fmt.Sprintf("withheld from %s: %s", c.x.Host, strings.Join(withheld, "; "))
			c.p.audit.log(e)
			payload = out
		}
		if found := inbound.Scan(payload, "text/plain"); found != nil {
			action := act(c.mode, found)
			c.p.auditInbound(c.x, finding(found)+" in a websocket message", action)
			switch action {
			case "blocked":
				if w := rpcWithheld(payload, withheldMessage(c.x.Host, found)); w != nil {
					payload = w // a tool's result: its call's error
					break
				}
				return nil, "a message from the server was withheld: it contains " + finding(found)
			case "marked":
				if m := rpcMarked(payload, warning(c.x.Host, found)); m != nil {
					payload = m
					break
				}
				payload = append([]byte(fmt.Sprintf("[bottle: the message below contains %s. "+advice+"]\n", finding(found), c.x.Host)), payload...)
			}
		}
	}
	return frame(u.op, payload, false), ""
}

// Close ends the connection; the room its unfinished messages held is
// given back once both directions have stopped (Write and Read own their
// readers until then).
func (c *wsConn) Close() error {
	c.mu.Lock()
	c.closed = true // what comes after is dropped
	for _, f := range c.pendingFor {
		f()
	}
	c.pending, c.pendingFor = nil, nil
	c.ready.Broadcast()
	c.mu.Unlock()
	err := c.up.Close()
	c.umu.Lock()
	c.out.drop()
	c.umu.Unlock()
	c.rmu.Lock()
	c.in.drop()
	c.rmu.Unlock()
	return err
}

func (c *wsConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// deny audits a message refused without ending the connection.
func (c *wsConn) deny(reason string) {
	e := c.x.entry
	e.Decision, e.Reason, e.Status = "deny", "websocket: "+reason, 0
	c.p.audit.log(e)
}

// refuse ends the connection both ways with a close frame (code) and the
// reason, and audits it. holdsUp says the caller holds umu; otherwise the
// upstream gets its close frame only if no write to it is under way (one
// may be stuck on an upstream that does not read), and is closed anyway.
func (c *wsConn) refuse(code uint16, reason string, holdsUp bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	e := c.x.entry
	e.Decision, e.Reason, e.Status = "deny", "websocket: "+reason, 0
	c.p.audit.log(e)
	payload := binary.BigEndian.AppendUint16(nil, code)
	payload = append(payload, truncate("blocked by bottle egress policy: "+reason, maxControl-2)...)
	c.queue(frame(opClose, payload, false))
	c.closed = true
	c.ready.Broadcast()
	c.mu.Unlock()
	if holdsUp || c.umu.TryLock() {
		c.up.Write(frame(opClose, payload, true))
		if !holdsUp {
			c.umu.Unlock()
		}
	}
	c.up.Close() // the upstream hears no more; what it had sent is dropped
}

// truncate cuts s to at most n bytes, on a character's boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
