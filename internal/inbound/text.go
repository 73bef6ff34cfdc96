package inbound

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"

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
	var out []byte
	for _, ev := range sse.Events(stream) {
		if ev.Dispatch {
			out = append(out, DataText(ev.Data)...)
		}
	}
	return out
}

// DataText is the text of one event's data: the strings under its JSON's
// text members, or the data itself, on a line of its own, when it is not
// JSON.
func DataText(data []byte) []byte {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return append(bytes.Clone(data), '\n')
	}
	return appendText(nil, v, false)
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
