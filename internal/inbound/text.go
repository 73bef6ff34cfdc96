package inbound

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/sse"
)

// textKeys are the JSON members that carry text in the event streams of
// model APIs and MCP servers (Anthropic's delta.text, OpenAI's
// delta.content, MCP's content[].text).
var textKeys = map[string]bool{
	"text": true, "content": true, "delta": true, "message": true, "value": true, "output": true,
	"result": true, "thinking": true, "partial_json": true, "arguments": true, "description": true,
}

// EventText is the text an event stream carries, as the reader of the
// stream sees it: its events assembled as the specification says (the
// data lines of each joined), and of each the text members of its JSON
// (DataText).
func EventText(stream []byte) []byte {
	var out, prose []byte
	for _, ev := range sse.Events(stream) {
		if ev.Dispatch {
			text, p := DataParts(ev.Data)
			out, prose = append(out, text...), append(prose, p...)
		}
	}
	if len(prose) > 0 { // after the text, which its events join
		out = append(append(out, "\n\n"...), prose...)
	}
	return out
}

// DataText is the text of one event's data: the strings under its JSON's
// text members, or the data itself, on a line of its own, when it is not
// JSON.
func DataText(data []byte) []byte {
	text, _ := DataParts(data)
	return text
}

// DataParts is DataText, and the prose (strings of three words or more)
// under the JSON's other members, each on a line of its own: a client
// that shows the event shows them too (a note, an error's detail). They
// are apart, so that they do not come between the text of one event and
// the next's.
func DataParts(data []byte) (text, prose []byte) {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return append(bytes.Clone(data), '\n'), nil
	}
	return appendText(nil, v, false), appendProse(nil, v, false)
}

// appendProse appends the strings of three words or more that are not
// under a text member, each on a line of its own.
func appendProse(out []byte, v any, text bool) []byte {
	switch t := v.(type) {
	case string:
		if !text && strings.Count(t, " ") >= 2 {
			out = append(append(out, t...), "\n\n"...)
		}
	case []any:
		for _, e := range t {
			out = appendProse(out, e, text)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			out = appendProse(out, t[k], text || textKeys[k])
		}
	}
	return out
}

// jsonText is JSON as a reader of its strings reads it: the escapes that
// stand for a character undone (\n, \t, \r as a space, \" \\ \/), in
// one pass; \u escapes are left to jsonStrings.
func jsonText(body []byte) []byte {
	if bytes.IndexByte(body, '\\') < 0 {
		return body
	}
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 == len(body) {
			out = append(out, c)
			continue
		}
		switch n := body[i+1]; n {
		case 'n':
			out = append(out, '\n')
		case 't', 'r':
			out = append(out, ' ')
		case '"', '\\', '/':
			out = append(out, n)
		default:
			out = append(out, c, n)
		}
		i++
	}
	return out
}

// jsonStrings is every string of a JSON body (one value, or one after
// another as in NDJSON), decoded, one to a line; nil when the body is no
// JSON or writes no letter as a \u escape (then the text as sent reads the
// same).
func jsonStrings(body []byte) []byte {
	t := bytes.TrimSpace(body)
	if len(t) == 0 || t[0] != '{' && t[0] != '[' || !bytes.Contains(t, []byte(`\u`)) {
		return nil
	}
	var out []byte
	dec := json.NewDecoder(bytes.NewReader(t))
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			break
		}
		out = appendStrings(out, v)
	}
	return out
}

func appendStrings(out []byte, v any) []byte {
	switch t := v.(type) {
	case string:
		out = append(append(out, t...), '\n')
	case []any:
		for _, e := range t {
			out = appendStrings(out, e)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			out = appendStrings(append(append(out, k...), '\n'), t[k])
		}
	}
	return out
}

// appendText appends the strings under text members of v.
func appendText(out []byte, v any, text bool) []byte {
	switch t := v.(type) {
	case string:
		if text {
			out = append(out, t...)
		}
	case []any:
		for _, e := range t {
			out = appendText(out, e, text)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			out = appendText(out, t[k], textKeys[k])
		}
	}
	return out
}
