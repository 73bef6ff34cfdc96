package egress

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
)

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// wsUnit is what a messageReader hands on: a whole message (its first
// frame's opcode, every fragment's payload joined) or a control frame.
type wsUnit struct {
	op      byte
	payload []byte   // unmasked
	held    []func() // give back its room in the budget
}

func (u *wsUnit) release() {
	for _, f := range u.held {
		f()
	}
	u.held = nil
}

// drop gives back the room of what was read and not handed on.
func (r *messageReader) drop() {
	if r.frameFor != nil {
		r.frameFor()
	}
	for _, f := range r.msgFor {
		f()
	}
	r.frameFor, r.msgFor, r.msg, r.buf, r.at, r.dropped = nil, nil, nil, nil, 0, true
}

// wsViolation is a frame RFC 6455 does not allow, or one past what is
// scanned: the close code and the reason.
type wsViolation struct {
	code   uint16
	reason string
}

// messageReader cuts one direction's bytes into frames as RFC 6455 (5.2)
// defines them, and frames into messages.
type messageReader struct {
	fromClient bool // a client's frames are masked, a server's are not
	buf        []byte
	at         int    // how much of buf was read
	msg        []byte // the unfinished message so far
	msgOp      byte   // its opcode; 0 when there is none
	// hold takes room in the budget for a data frame before it is read
	// (nil: none is taken); the message's room goes with it (wsUnit.release).
	hold     func(n int64) (func(), error)
	frameFor func() // the room of the frame being read
	msgFor   []func()
	dropped  bool // the connection ended: nothing more is read
}

func (r *messageReader) feed(b []byte) {
	if r.dropped {
		return
	}
	if r.at > 0 {
		if rest := r.buf[r.at:]; cap(r.buf) > 1<<20 && len(rest) < 64<<10 {
			r.buf = append([]byte(nil), rest...) // a large frame's room goes once it was read
		} else {
			r.buf = r.buf[:copy(r.buf, rest)]
		}
		r.at = 0
	}
	r.buf = append(r.buf, b...)
}

// next returns the next whole message or control frame, nil until one
// has arrived, or the violation that ends the connection.
func (r *messageReader) next() (*wsUnit, *wsViolation) {
	for {
		b := r.buf[r.at:]
		if len(b) < 2 {
			return nil, nil
		}
		fin, op := b[0]&0x80 != 0, b[0]&0x0f
		if b[0]&0x70 != 0 {
			return nil, &wsViolation{closeProtocol, "a compressed or extended frame (a reserved bit set), which cannot be scanned"}
		}
		if masked := b[1]&0x80 != 0; masked != r.fromClient {
			return nil, &wsViolation{closeProtocol, "a frame masked the wrong way for its side (RFC 6455 5.1)"}
		}
		n, at := uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return nil, nil
			}
			n, at = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return nil, nil
			}
			n, at = binary.BigEndian.Uint64(b[2:]), 10
		}
		switch {
		case op >= opClose && op != opClose && op != opPing && op != opPong, op > opBinary && op < opClose:
			return nil, &wsViolation{closeProtocol, fmt.Sprintf("a frame of the reserved opcode %#x", op)}
		case op >= opClose && !fin:
			return nil, &wsViolation{closeProtocol, "a fragmented control frame (RFC 6455 5.5)"}
		case op >= opClose && n > maxControl:
			return nil, &wsViolation{closeProtocol, "a control frame longer than 125 bytes (RFC 6455 5.5)"}
		case op == opContinuation && r.msgOp == 0:
			return nil, &wsViolation{closeProtocol, "a continuation frame with no message begun (RFC 6455 5.4)"}
		case op != opContinuation && op < opClose && r.msgOp != 0:
			return nil, &wsViolation{closeProtocol, "a new message before the last one ended (RFC 6455 5.4)"}
		case n > maxMessage || uint64(len(r.msg))+n > maxMessage:
			return nil, &wsViolation{closeTooBig, fmt.Sprintf("a message larger than %d MiB, past what is scanned", maxMessage>>20)}
		}
		if op < opClose && r.hold != nil && r.frameFor == nil {
			release, err := r.hold(holdCost(int64(n)))
			if err != nil {
				return nil, &wsViolation{closeTryAgain, err.Error()}
			}
			r.frameFor = release
		}
		var key []byte
		if r.fromClient {
			if len(b) < at+4 {
				return nil, nil
			}
			key, at = b[at:at+4], at+4
		}
		if uint64(len(b)-at) < n {
			return nil, nil
		}
		payload := b[at : at+int(n)]
		r.at += at + int(n)
		if op >= opClose {
			u := &wsUnit{op: op, payload: unmask(nil, payload, key)}
			return u, nil
		}
		if op != opContinuation {
			r.msgOp = op
		}
		r.msg = unmask(r.msg, payload, key)
		if r.frameFor != nil {
			r.msgFor, r.frameFor = append(r.msgFor, r.frameFor), nil
		}
		if !fin {
			continue
		}
		u := &wsUnit{op: r.msgOp, payload: r.msg, held: r.msgFor}
		r.msg, r.msgOp, r.msgFor = nil, 0, nil
		return u, nil
	}
}

// unmask appends payload to out, unmasked with key (if any).
func unmask(out, payload, key []byte) []byte {
	start := len(out)
	out = append(out, payload...)
	if key != nil {
		for i := range payload {
			out[start+i] ^= key[i%4]
		}
	}
	return out
}

// frame builds one final frame (masked when it goes to a server, with a
// fresh key, as RFC 6455 5.3 asks).
func frame(op byte, payload []byte, toServer bool) []byte {
	out := make([]byte, 0, len(payload)+14)
	out = append(out, 0x80|op)
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
		key := binary.BigEndian.AppendUint32(nil, rand.Uint32())
		out = append(out, key...)
		return unmask(out, payload, key)
	}
	return append(out, payload...)
}
