package egress

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/bottle-sandbox/bottle/internal/files"
	"github.com/bottle-sandbox/bottle/internal/inbound"
	"github.com/bottle-sandbox/bottle/internal/sse"
)

// MCP servers the agent reaches over HTTP (streamable HTTP, or SSE) tell
// the model what their tools do in words only the model reads: a place to
// hide instructions (tool poisoning), and to change them once trusted (a
// rug pull). The proxy reads each tools/list (and prompts/list,
// resources/list) that passes: a definition with instructions aimed at the
// agent is withheld and the person told; every other one is pinned on
// first sight, per server; a definition that differs later is withheld,
// and calls to it refused, until the person approves it through a
// supervise request.

// PinsFile, in the egress folder, keeps the pins across a resume.
const PinsFile = "mcp-pins.json"

// Reporter files what the proxy withheld with the person supervising the
// bottle and hears back: the supervise requests.
type Reporter interface {
	// Changed files a request to approve a changed definition: its id.
	Changed(server, kind, name, was, now string) (string, error)
	// Withheld notes a definition withheld on sight.
	Withheld(server, kind, name, why string) error
	// Approved reports whether the person approved a request.
	Approved(id string) bool
}

type pin struct {
	Hash string `json:"hash"`
	Text string `json:"text"` // the description, shortened, to show what changed
	// Changed is a later definition, withheld until Request is approved.
	Changed string `json:"changed,omitempty"`
	Request string `json:"request,omitempty"`
	// Poisoned is the rule that withheld this definition on sight.
	Poisoned string `json:"poisoned,omitempty"`
}

type mcpWatch struct {
	mu       sync.Mutex
	path     string
	pins     map[string]*pin // server, kind, name
	reporter Reporter
	streams  map[string]*eventStream // older-transport streams, by server and endpoint
}

func newMCPWatch(path string) *mcpWatch {
	w := &mcpWatch{path: path, pins: map[string]*pin{}}
	if data, err := os.ReadFile(path); err == nil {
		json.Unmarshal(data, &w.pins)
	}
	return w
}

func pinKey(server, kind, name string) string { return server + "\x00" + kind + "\x00" + name }

// rpcCall is what the proxy notes of a JSON-RPC request to an MCP server
// (a server is known by its host: its transports may use several paths).
type rpcCall struct {
	server string
	method string
	name   string          // tools/call: the tool; prompts/get: the prompt
	args   json.RawMessage // tools/call: the arguments
	id     json.RawMessage // to answer it
}

// listKinds are the list methods and the member of the result they fill.
var listKinds = map[string]string{
	"tools/list": "tools", "prompts/list": "prompts", "resources/list": "resources",
	"resources/templates/list": "resourceTemplates",
}

// parseRPC reads a JSON-RPC request body (one message or a batch); nil
// when the body is not one. Members are matched by their exact names, as
// a server reads them (Go's decoder would take "METHOD" for "method").
func parseRPC(server string, body []byte) []rpcCall {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' && body[0] != '[' {
		return nil
	}
	var msgs []map[string]json.RawMessage
	if body[0] == '[' {
		json.Unmarshal(body, &msgs)
	} else {
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) == nil {
			msgs = []map[string]json.RawMessage{m}
		}
	}
	var out []rpcCall
	for _, m := range msgs {
		var method string
		json.Unmarshal(m["method"], &method)
		if method == "" { // a server may not insist on the version
			continue
		}
		c := rpcCall{server: server, method: method, id: m["id"]}
		var params map[string]json.RawMessage
		if json.Unmarshal(m["params"], &params) == nil {
			json.Unmarshal(params["name"], &c.name)
			c.args = params["arguments"]
		}
		out = append(out, c)
	}
	return out
}

// refused says why a call may not go to its server: the tool (or prompt)
// was withheld; "" when it may.
func (w *mcpWatch) refused(calls []rpcCall) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range calls {
		kind := map[string]string{"tools/call": "tools", "prompts/get": "prompts"}[c.method]
		if kind == "" {
			continue
		}
		pn := w.pins[pinKey(c.server, kind, c.name)]
		switch {
		case pn == nil:
		case pn.Poisoned != "":
			return fmt.Sprintf("the MCP %s %q of %s was withheld: its definition holds instructions aimed at the agent (%s)", strings.TrimSuffix(kind, "s"), c.name, c.server, pn.Poisoned)
		case pn.Changed != "" && !w.approve(pn):
			return fmt.Sprintf("the MCP %s %q of %s changed during the session and is withheld until the person supervising the bottle approves it (request %s)", strings.TrimSuffix(kind, "s"), c.name, c.server, pn.Request)
		}
	}
	return ""
}

// approve takes a changed definition as the pin once its request is
// approved; the caller holds mu.
func (w *mcpWatch) approve(pn *pin) bool {
	if pn.Request == "" || w.reporter == nil || !w.reporter.Approved(pn.Request) {
		return false
	}
	pn.Hash, pn.Changed, pn.Request = pn.Changed, "", ""
	w.save()
	return true
}

func (w *mcpWatch) save() {
	if data, err := json.MarshalIndent(w.pins, "", "  "); err == nil {
		files.WriteAtomic(w.path, data, 0o600)
	}
}

// result filters one JSON-RPC response message of a list call: the items
// withheld are taken out. It returns the message to pass on, and what was
// withheld, for the audit.
//
// With no call (an event stream the answers of other requests arrive on,
// as in MCP's older SSE transport), a list is known by its shape.
func (w *mcpWatch) result(server string, call *rpcCall, message []byte) ([]byte, []string) {
	if !bytes.Contains(message, []byte(`"result"`)) {
		return message, nil
	}
	if trimmed := bytes.TrimSpace(message); len(trimmed) > 0 && trimmed[0] == '[' {
		// The answers to a batch: each is read as one, known by its shape.
		var batch []json.RawMessage
		if json.Unmarshal(trimmed, &batch) != nil {
			return message, nil
		}
		var withheld []string
		for i, m := range batch {
			out, wh := w.result(server, nil, m)
			batch[i], withheld = out, append(withheld, wh...)
		}
		if len(withheld) == 0 {
			return message, nil
		}
		out, _ := json.Marshal(batch)
		return out, withheld
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(message, &m) != nil || m["result"] == nil {
		return message, nil
	}
	var result map[string]json.RawMessage
	if json.Unmarshal(m["result"], &result) != nil {
		return message, nil
	}
	member := ""
	if call != nil {
		member = listKinds[call.method]
	} else {
		for _, k := range []string{"tools", "prompts", "resources", "resourceTemplates"} {
			if result[k] != nil {
				member = k
				break
			}
		}
	}
	if member == "" || result[member] == nil {
		return message, nil
	}
	var items []map[string]any
	if json.Unmarshal(result[member], &items) != nil {
		return message, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var kept []map[string]any
	var withheld []string
	for _, item := range items {
		name, _ := item["name"].(string)
		if uri, ok := item["uri"].(string); ok && member == "resources" {
			name = uri
		}
		if why := w.check(server, member, name, item); why != "" {
			withheld = append(withheld, fmt.Sprintf("%s %q (%s)", strings.TrimSuffix(member, "s"), name, why))
			continue
		}
		kept = append(kept, item)
	}
	if len(withheld) == 0 {
		return message, nil
	}
	if kept == nil {
		kept = []map[string]any{}
	}
	result[member], _ = json.Marshal(kept)
	m["result"], _ = json.Marshal(result)
	out, _ := json.Marshal(m)
	w.save()
	return out, withheld
}

// check decides on one definition, pinning it on first sight; the caller
// holds mu. It returns why it is withheld, or "".
func (w *mcpWatch) check(server, kind, name string, item map[string]any) string {
	canonical, _ := json.Marshal(item) // map keys sorted: one spelling per definition
	sum := sha256.Sum256(canonical)
	hash := hex.EncodeToString(sum[:12])
	desc, _ := item["description"].(string)
	key := pinKey(server, kind, name)
	pn := w.pins[key]
	if pn == nil {
		if f := inbound.ScanHidden(allStrings(nil, item)); f != nil {
			w.pins[key] = &pin{Hash: hash, Text: short(desc), Poisoned: f.Rule}
			if w.reporter != nil {
				w.reporter.Withheld(server, kind, name, f.Rule)
			}
			return "instructions aimed at the agent: " + f.Rule
		}
		w.pins[key] = &pin{Hash: hash, Text: short(desc)}
		return ""
	}
	switch {
	case pn.Poisoned != "" && pn.Hash == hash:
		return "instructions aimed at the agent: " + pn.Poisoned
	case pn.Hash == hash && pn.Poisoned == "":
		return ""
	case pn.Changed == hash && w.approve(pn):
		return ""
	case pn.Changed == hash:
		return "changed during the session, waiting for approval"
	}
	pn.Changed = hash
	pn.Request = ""
	if w.reporter != nil {
		id, err := w.reporter.Changed(server, kind, name, pn.Text, short(desc))
		if err == nil {
			pn.Request = id
		}
	}
	return "changed during the session, waiting for approval"
}

func short(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

// allStrings gathers every string in a definition: names, descriptions,
// schema titles, enums, defaults; all of it reaches the model.
func allStrings(out []byte, v any) []byte {
	switch t := v.(type) {
	case string:
		out = append(append(out, t...), '\n')
	case []any:
		for _, e := range t {
			out = allStrings(out, e)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			out = allStrings(append(append(out, k...), ' '), t[k])
		}
	}
	return out
}

// checkMCP filters what an MCP server answers: the response to a list
// call (JSON at once, an event stream event by event), and any event
// stream from an intercepted host, where lists may arrive as answers to
// requests sent elsewhere (the older SSE transport).
func (p *Proxy) checkMCP(resp *http.Response, x *exchange) {
	var call *rpcCall
	for i := range x.rpc {
		if listKinds[x.rpc[i].method] != "" {
			call = &x.rpc[i]
			break
		}
	}
	if resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode != http.StatusOK {
		return
	}
	server := x.Host
	audit := func(withheld []string) {
		if len(withheld) > 0 {
			e := x.entry
			e.Decision, e.Reason = "mcp", fmt.Sprintf("withheld from %s: %s", server, strings.Join(withheld, "; "))
			p.audit.log(e)
		}
	}
	ct := mediaType(resp.Header)
	switch {
	case ct != "text/event-stream" && call != nil && strings.Contains(strings.ToLower(strings.Join(resp.Header.Values("Content-Type"), ",")), "json"):
		// JSON wherever the header says it (a client may look for the word alone)
		want := resp.ContentLength
		if want < 0 || want > maxBuffered {
			want = maxBuffered
		}
		release, err := p.budget.take(x.req.Context(), holdCost(want))
		if err != nil {
			resp.Body.Close()
			setBody(resp, explanationMCP(err.Error()))
			return
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBuffered+1))
		resp.Body.Close()
		if err != nil || len(body) > maxBuffered {
			release()
			setBody(resp, explanationMCP(fmt.Sprintf("the list is longer than %d MiB, past what is read", maxBuffered>>20)))
			return
		}
		out, withheld := p.mcp.result(server, call, body)
		audit(withheld)
		setHeldBody(resp, out, release)
	case ct == "text/event-stream":
		st := &eventStream{src: resp.Body}
		var pw *io.PipeWriter
		resp.Body, pw = io.Pipe()
		st.pw = pw
		go func() {
			defer st.src.Close()
			defer p.mcp.forget(st)
			// Event by event, as the agent's client reads them: an event's
			// message is its data lines joined.
			events := newEventReader(p.budget)
			defer events.release()
			chunk := make([]byte, 32<<10)
			for {
				n, err := st.src.Read(chunk)
				evs, perr := events.feed(chunk[:n], err != nil)
				for _, ev := range evs {
					out := ev.Raw
					switch {
					case !ev.Dispatch:
					case ev.Type == "endpoint":
						// The older transport says where to post: answers to
						// those requests come on this stream.
						p.mcp.register(server, strings.TrimSpace(string(ev.Data)), x.req.URL, st)
					default:
						if msg, withheld := p.mcp.result(server, call, ev.Data); len(withheld) > 0 {
							audit(withheld)
							out = sse.Encode(ev, msg)
						}
					}
					if werr := st.write(out); werr != nil {
						return
					}
				}
				if perr != nil {
					st.write(sse.Encode(sse.Event{Type: "message"}, explanationMCP(perr.Error())))
					pw.Close()
					return
				}
				if err != nil {
					pw.CloseWithError(err)
					return
				}
			}
		}()
		setStream(resp, resp.Body)
	}
}

// rpcRefusal answers a refused call as its server would refuse it, so the
// agent's MCP client sees an error for that call and keeps its session;
// nil when the request was not one call with an id.
func rpcRefusal(calls []rpcCall, why string) []byte {
	if len(calls) != 1 || len(calls[0].id) == 0 {
		return nil
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": calls[0].id,
		"error": map[string]any{"code": -32001, "message": "blocked by bottle egress policy: " + why}})
	return b
}

// explanationMCP is a JSON-RPC error saying why bottle withheld the rest.
func explanationMCP(why string) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "error": map[string]any{"code": -32001, "message": "bottle withheld this: " + why}})
	return b
}
