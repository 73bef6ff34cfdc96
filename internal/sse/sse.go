// Package sse reads an event stream (text/event-stream) as the HTML
// specification's server-sent events define it, so that what the proxy
// looks at is what a client dispatches: an event is its data lines joined
// with line feeds, ended by a blank line; lines end in CRLF, LF or a lone
// CR; a line that starts with a colon is a comment; a field's value loses
// one leading space. A reader that looked at one data line at a time would
// pass an event whose meaning only appears once its lines are joined.
package sse

import (
	"bytes"
	"errors"
)

// Event is one block of a stream, up to and including the blank line that
// ends it.
type Event struct {
	// Raw is the block as it came.
	Raw []byte
	// Type is the event field ("" is "message").
	Type string
	// ID is the id field, when the block set one (HasID).
	ID    string
	HasID bool
	// Retry is the retry field's value, as sent ("": none).
	Retry string
	// Data is the data lines joined with line feeds. A block without a data
	// line (comments only, a retry) dispatches nothing: Dispatch is false.
	Data     []byte
	Dispatch bool
}

// ErrTooLong is returned once an unfinished event holds more than a
// Parser's Max bytes.
var ErrTooLong = errors.New("an event longer than the stream reader holds")

// Parser cuts a stream into events as its bytes arrive.
type Parser struct {
	// Max bounds an unfinished event's bytes (0: no bound).
	Max int

	buf     []byte // from the unfinished block's start
	start   int    // where the block being read starts in buf
	pos     int    // how far buf was read as lines
	ev      Event
	data    []byte
	hasData bool
	started bool // past the byte order mark, if any
}

// Feed adds the stream's next bytes and returns the events they finish.
// With eof, the stream has ended: a block its end left unfinished is
// returned as if a blank line ended it (a client may dispatch it).
func (p *Parser) Feed(b []byte, eof bool) ([]Event, error) {
	p.buf = append(p.buf, b...)
	if !p.started {
		if len(p.buf) < 3 && !eof && bytes.HasPrefix([]byte("\xef\xbb\xbf"), p.buf) {
			return nil, nil
		}
		p.started = true
		if bytes.HasPrefix(p.buf, []byte("\xef\xbb\xbf")) {
			p.pos = 3
		}
	}
	var out []Event
	for {
		rest := p.buf[p.pos:]
		i := bytes.IndexAny(rest, "\r\n")
		if i < 0 || rest[i] == '\r' && i == len(rest)-1 && !eof {
			break // no whole line yet (a CR may be the start of CRLF)
		}
		end := i + 1
		if rest[i] == '\r' && end < len(rest) && rest[end] == '\n' {
			end++
		}
		line := rest[:i]
		p.pos += end
		if len(line) == 0 {
			out = append(out, p.dispatch())
			continue
		}
		p.field(line)
	}
	if eof && p.start < len(p.buf) {
		if p.pos < len(p.buf) {
			p.field(p.buf[p.pos:])
			p.pos = len(p.buf)
		}
		out = append(out, p.dispatch())
	}
	if p.start > 0 {
		// A new array for what is left: the events returned keep theirs.
		p.buf, p.pos, p.start = bytes.Clone(p.buf[p.start:]), p.pos-p.start, 0
	}
	if p.Max > 0 && len(p.buf) > p.Max {
		return out, ErrTooLong
	}
	return out, nil
}

// Pending is how many bytes of an unfinished event are held.
func (p *Parser) Pending() int { return len(p.buf) - p.start }

func (p *Parser) field(line []byte) {
	if line[0] == ':' {
		return // a comment
	}
	name, value, found := bytes.Cut(line, []byte(":"))
	if found {
		value = bytes.TrimPrefix(value, []byte(" "))
	}
	switch string(name) {
	case "event":
		p.ev.Type = string(value)
	case "data":
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data, p.hasData = append(p.data, value...), true
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.ev.ID, p.ev.HasID = string(value), true
		}
	case "retry":
		p.ev.Retry = string(value)
	}
}

func (p *Parser) dispatch() Event {
	ev := p.ev
	ev.Raw = p.buf[p.start:p.pos:p.pos]
	ev.Data, ev.Dispatch = p.data, p.hasData
	p.start, p.ev, p.data, p.hasData = p.pos, Event{}, nil, false
	return ev
}

// Encode writes an event whose data was replaced: its type, id and retry
// as they were, then each line of data as a data field, then the blank
// line.
func Encode(ev Event, data []byte) []byte {
	var b bytes.Buffer
	if ev.Type != "" {
		b.WriteString("event: " + ev.Type + "\n")
	}
	if ev.HasID {
		b.WriteString("id: " + ev.ID + "\n")
	}
	if ev.Retry != "" {
		b.WriteString("retry: " + ev.Retry + "\n")
	}
	data = bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
	for _, line := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// Events reads a whole stream's events.
func Events(stream []byte) []Event {
	var p Parser
	out, _ := p.Feed(stream, true)
	return out
}
