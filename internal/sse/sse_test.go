package sse

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// TestEvents: events as the specification dispatches them, whatever the
// stream's line ends and however its bytes arrive.
func TestEvents(t *testing.T) {
	type want struct{ typ, data string }
	for _, tc := range []struct {
		name   string
		stream string
		want   []want
	}{
		{"one line", "data: {\"a\":1}\n\n", []want{{"", `{"a":1}`}}},
		{"data lines joined", "data: {\"a\":\ndata: 1}\n\n", []want{{"", "{\"a\":\n1}"}}},
		{"lone CR ends lines", "data: one\rdata: two\r\r", []want{{"", "one\ntwo"}}},
		{"CRLF", "event: x\r\ndata: one\r\n\r\ndata: two\r\n\r\n", []want{{"x", "one"}, {"", "two"}}},
		{"no space after the colon", "data:one\ndata:  two\n\n", []want{{"", "one\n two"}}},
		{"comment and retry only", ": keepalive\nretry: 10\n\ndata: x\n\n", []want{{"", "x"}}},
		{"a field without a colon", "data\ndata\n\n", []want{{"", "\n"}}},
		{"byte order mark", "\xef\xbb\xbfdata: x\n\n", []want{{"", "x"}}},
		{"unfinished at the end", "data: x\n\ndata: y", []want{{"", "x"}, {"", "y"}}},
		{"unknown fields", "foo: bar\ndata: x\n\n", []want{{"", "x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, and one byte at a time: the same events.
			for _, step := range []int{len(tc.stream), 1} {
				var p Parser
				var got []Event
				for i := 0; i < len(tc.stream); i += step {
					evs, err := p.Feed([]byte(tc.stream[i:min(i+step, len(tc.stream))]), false)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, evs...)
				}
				evs, _ := p.Feed(nil, true)
				got = append(got, evs...)
				var raw []byte
				var dispatched []want
				for _, ev := range got {
					raw = append(raw, ev.Raw...)
					if ev.Dispatch {
						dispatched = append(dispatched, want{ev.Type, string(ev.Data)})
					}
				}
				if string(raw) != tc.stream {
					t.Errorf("step %d: the raw blocks make %q, want the stream", step, raw)
				}
				if !slices.Equal(dispatched, tc.want) {
					t.Errorf("step %d: dispatched %q, want %q", step, dispatched, tc.want)
				}
			}
		})
	}
}

func TestMax(t *testing.T) {
	p := Parser{Max: 16}
	if _, err := p.Feed([]byte("data: 0123456789\n"), false); err == nil || !errors.Is(err, ErrTooLong) {
		t.Errorf("an unfinished event past Max: %v", err)
	}
	p = Parser{Max: 16}
	evs, err := p.Feed([]byte("data: 01234\n\ndata: 56789\n\n"), false)
	if err != nil || len(evs) != 2 {
		t.Errorf("finished events under Max each: %d, %v", len(evs), err)
	}
}

func TestEncode(t *testing.T) {
	evs := Events([]byte("event: message\nid: 7\ndata: {\"a\":\ndata: 1}\n\n"))
	out := Encode(evs[0], []byte(`{"b":2}`))
	if want := "event: message\nid: 7\ndata: {\"b\":2}\n\n"; string(out) != want {
		t.Errorf("Encode: %q, want %q", out, want)
	}
	back := Events(Encode(evs[0], []byte("one\rtwo\r\nthree")))
	if len(back) != 1 || !bytes.Equal(back[0].Data, []byte("one\ntwo\nthree")) {
		t.Errorf("Encode with line breaks in the data: %q", back[0].Data)
	}
}

// FuzzParser: however a stream's bytes arrive, the same events; and the
// events' raw blocks are the stream.
func FuzzParser(f *testing.F) {
	f.Add([]byte("event: x\r\ndata: a\rdata: b\n\n: c\n\ndata"), 3)
	f.Add([]byte("\xef\xbb\xbfdata:\n\n"), 1)
	f.Fuzz(func(t *testing.T, stream []byte, cut int) {
		whole := Events(stream)
		var p Parser
		cut = min(max(cut, 0), len(stream))
		a, _ := p.Feed(stream[:cut], false)
		b, _ := p.Feed(stream[cut:], true)
		parts := append(a, b...)
		var raw []byte
		for _, ev := range parts {
			raw = append(raw, ev.Raw...)
		}
		if !bytes.Equal(raw, stream) {
			t.Fatalf("raw %q, stream %q", raw, stream)
		}
		var w, g []string
		for _, ev := range whole {
			if ev.Dispatch {
				w = append(w, ev.Type+"\x00"+string(ev.Data))
			}
		}
		for _, ev := range parts {
			if ev.Dispatch {
				g = append(g, ev.Type+"\x00"+string(ev.Data))
			}
		}
		if !slices.Equal(w, g) {
			t.Fatalf("cut at %d: %q, whole: %q", cut, g, w)
		}
	})
}
