package egress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/inbound"
)

// A WebSocket is not a raw pipe here. An upgrade is refused unless the
// route says websocket = true; then every message, both ways, goes through
// the same checks as a request and a response: what the agent sends through
// the outbound DLP (with the split watch of its host), what comes back
// through the inbound scan. A message the DLP stops, or one the inbound
// mode blocks, closes the connection (status 1008, policy violation) with
// the reason; a marked text message reaches the agent with the warning in
// front of it. Compression (permessage-deflate) is not offered upstream,
// so frames can be read.

// maxMessage bounds one message (all its frames); a longer one closes the
// connection, as nothing passes unscanned.
const maxMessage = 16 << 20

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
// Write carries the agent's frames up, Read the upstream's down.
type wsConn struct {
	p    *Proxy
	x    *exchange
	up   io.ReadWriteCloser
	mode string

	wmu sync.Mutex
	out frameReader // the agent's frames, as they are written
	in  frameReader // the upstream's frames, as they are read
	// pending are frames ready for the agent; closed once a close frame
	// has been queued for it.
	pending []byte
	closed  bool
	rerr    error
}

func newWSConn(p *Proxy, x *exchange, up io.ReadWriteCloser) *wsConn {
	mode := x.route.Inbound
	if mode == "" {
		mode = config.InboundAuto
	}
	return &wsConn{p: p, x: x, up: up, mode: mode, out: frameReader{masked: true}, in: frameReader{}}
}

// Write takes the agent's bytes, and passes each whole frame on once its
// message, if it ends there, was scanned.
func (c *wsConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return len(b), nil // refused already: nothing more goes up
	}
	c.out.buf = append(c.out.buf, b...)
	for {
		f, err := c.out.next()
		if err != nil {
			c.refuse(err.Error())
			return len(b), nil
		}
		if f == nil {
			return len(b), nil
		}
		if msg := c.out.message(f); msg != nil {
			s := c.p.scanner.Without(c.x.route.DLPOff...)
			// A refusal is not an error here: the relay keeps reading,
			// so the agent gets the close frame and its reason before
			// the connection ends.
			if found := s.Scan(msg, "websocket message"); found != nil {
				c.refuse("the message carries a secret (" + describe(found) + ")")
				return len(b), nil
			}
			if found := c.p.split.check(s, c.x.Host, [][]byte{msg[:min(len(msg), fragmentSize)], msg[max(0, len(msg)-fragmentSize):]}); found != nil {
				c.refuse("the message carries a secret (" + describe(found) + ", sent in pieces)")
				return len(b), nil
			}
		}
		if _, err := c.up.Write(f.raw); err != nil {
			return 0, err
		}
	}
}

// Read gives the agent the upstream's frames, each message scanned first.
func (c *wsConn) Read(b []byte) (int, error) {
	for {
		c.wmu.Lock()
		if len(c.pending) > 0 {
			n := copy(b, c.pending)
			c.pending = c.pending[n:]
			c.wmu.Unlock()
			return n, nil
		}
		closed := c.closed
		c.wmu.Unlock()
		if closed {
			return 0, io.EOF
		}
		if c.rerr != nil {
			return 0, c.rerr
		}
		chunk := make([]byte, 32<<10)
		n, err := c.up.Read(chunk)
		c.in.buf = append(c.in.buf, chunk[:n]...)
		for {
			f, ferr := c.in.next()
			if ferr != nil {
				c.wmu.Lock()
				c.refuse(ferr.Error())
				c.wmu.Unlock()
				break
			}
			if f == nil {
				break
			}
			raw := f.raw
			if msg := c.in.message(f); msg != nil && c.in.lastOp == opText {
				if found := inbound.Scan(msg, "text/plain"); found != nil {
					action := act(c.mode, found)
					c.p.auditInbound(c.x, finding(found)+" in a websocket message", action)
					switch action {
					case "blocked":
						c.wmu.Lock()
						c.refuse("a message from the server was withheld: it contains " + finding(found))
						c.wmu.Unlock()
						continue
					case "marked":
						if f.fin && f.first {
							raw = frame(opText, append([]byte(fmt.Sprintf("[bottle: the message below contains %s. "+advice+"]\n", finding(found), c.x.Host)), msg...), false)
						}
					}
				}
			}
			c.wmu.Lock()
			if !c.closed {
				c.pending = append(c.pending, raw...)
			}
			c.wmu.Unlock()
		}
		if err != nil {
			c.rerr = err
		}
	}
}

func (c *wsConn) Close() error { return c.up.Close() }

// refuse ends the connection both ways with a policy-violation close and
// the reason, and audits it. The caller holds wmu.
func (c *wsConn) refuse(reason string) {
	e := c.x.entry
	e.Decision, e.Reason, e.Status = "deny", "websocket: "+reason, 0
	c.p.audit.log(e)
	if !c.closed {
		payload := append([]byte{0x03, 0xf0}, truncate("blocked by bottle egress policy: "+reason, 120)...) // 1008
		c.up.Write(frame(opClose, payload, true))
		c.up.Close() // the upstream hears no more; what it had sent is dropped
		c.pending = append(c.pending, frame(opClose, payload, false)...)
		c.closed = true
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
)

type wsFrame struct {
	fin, first bool
	op         byte
	payload    []byte // unmasked
	raw        []byte // as it came
}

// frameReader cuts a byte stream into frames and frames into messages.
type frameReader struct {
	masked bool // frames from the client are masked
	buf    []byte
	msg    []byte // the message so far
	msgOp  byte   // its opcode while it is unfinished; 0 when none is
	lastOp byte   // the opcode of the message message() last returned
}

// next returns the next whole frame in buf, or nil until one has arrived.
func (r *frameReader) next() (*wsFrame, error) {
	b := r.buf
	if len(b) < 2 {
		return nil, nil
	}
	if b[0]&0x70 != 0 {
		return nil, errors.New("a compressed or extended frame, which cannot be scanned")
	}
	masked := b[1]&0x80 != 0
	n, at := int64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return nil, nil
		}
		n, at = int64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return nil, nil
		}
		n, at = int64(binary.BigEndian.Uint64(b[2:])), 10
	}
	if n > maxMessage || n < 0 {
		return nil, fmt.Errorf("a frame larger than %d MiB, past what is scanned", maxMessage>>20)
	}
	var key []byte
	if masked {
		if len(b) < at+4 {
			return nil, nil
		}
		key, at = b[at:at+4], at+4
	}
	if int64(len(b)-at) < n {
		return nil, nil
	}
	end := at + int(n)
	f := &wsFrame{fin: b[0]&0x80 != 0, op: b[0] & 0x0f, raw: append([]byte(nil), b[:end]...)}
	f.payload = append([]byte(nil), b[at:end]...)
	for i := range f.payload {
		if masked {
			f.payload[i] ^= key[i%4]
		}
	}
	r.buf = append(r.buf[:0], b[end:]...)
	return f, nil
}

// message adds a data frame to the message being read and returns the
// whole message when this frame ends it (control frames are not messages).
func (r *frameReader) message(f *wsFrame) []byte {
	switch {
	case f.op >= 0x8:
		return nil
	case f.op != opContinuation:
		r.msg, r.msgOp, f.first = append(r.msg[:0], f.payload...), f.op, true
	default:
		r.msg = append(r.msg, f.payload...)
	}
	if len(r.msg) > maxMessage || !f.fin {
		if len(r.msg) > maxMessage {
			r.msg = r.msg[:0]
		}
		return nil
	}
	r.lastOp, r.msgOp = r.msgOp, 0
	return bytes.Clone(r.msg)
}

// frame builds one final frame (masked when it goes to a server).
func frame(op byte, payload []byte, toServer bool) []byte {
	out := []byte{0x80 | op}
	mask := byte(0)
	if toServer {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, mask|byte(n))
	case n < 1<<16:
		out = append(out, mask|126, byte(n>>8), byte(n))
	default:
		out = append(out, mask|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if toServer {
		key := []byte{0x5b, 0x0c, 0x7e, 0x21}
		out = append(out, key...)
		for i, c := range payload {
			out = append(out, c^key[i%4])
		}
		return out
	}
	return append(out, payload...)
}
