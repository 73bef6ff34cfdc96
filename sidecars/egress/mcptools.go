package egress

import (
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/dlp"
)

// What an agent calls an MCP server's tools with is data leaving the
// bottle: each string in a call's arguments, decoded from its JSON, goes
// through the DLP (the body as sent did already; a string escaped twice
// only reads as a key once decoded). An MCP server outside the bottle that
// runs commands would be a way around it, so a call whose arguments pipe
// something into a shell or interpreter, or decode a command before it
// runs, is refused unless the route says mcp.allow_commands; the route may
// also allow or deny tools by name. What the tools answer is scanned as any
// response is (checkInbound), a withheld result answered as its call's
// error so the agent's session goes on.

// commandPatterns are what marks an argument as a command this policy
// refuses, besides a pipe (pipesIntoRunner): a shell's eval or a
// download run in place, and a command decoded before it runs.
var commandPatterns = []*regexp.Regexp{
	regexp.MustCompile("(?i)\\beval\\s+[\"'$`]|[$<]\\(\\s*(curl|wget)\\b|`\\s*(curl|wget)\\b"),
	regexp.MustCompile(`(?i)\bbase64\s+(-\w*d\w*|--decode)\b|\bxxd\s+(-\w+\s+)*-r\b|\bopenssl\s+(enc\s+)?(-\w+\s+)*-d\b`),
	regexp.MustCompile(`(?i)\b(exec|eval|system|popen|spawn|iex|invoke-expression)\s*\(?[^;\n]{0,60}\b(b64decode|frombase64string|atob|base64_decode|decodebytes|unhexlify|fromhex)\b`),
	regexp.MustCompile(`(?i)\b(powershell|pwsh)(\.exe)?\b.*\s-e(nc(odedcommand)?)?\s+[a-z0-9+/=]{16,}`),
}

// pipeFilters are what a pipe may lead into: programs that read text and
// print it.
var pipeFilters = map[string]bool{
	"grep": true, "egrep": true, "fgrep": true, "rg": true, "head": true, "tail": true, "sort": true, "uniq": true,
	"wc": true, "cut": true, "tr": true, "sed": true, "awk": true, "gawk": true, "jq": true, "yq": true, "cat": true,
	"column": true, "less": true, "more": true, "nl": true, "fold": true, "fmt": true, "rev": true, "paste": true,
	"tac": true, "diff": true, "comm": true, "join": true, "expand": true, "od": true, "hexdump": true, "strings": true,
	"tee": true, "sha256sum": true, "sha1sum": true, "md5sum": true, "gzip": true, "zcat": true,
}

// pipeRunners are what runs what a pipe brings it: shells, interpreters,
// and the programs that run another.
var pipeRunners = map[string]bool{
	"sh": true, "bash": true, "zsh": true, "dash": true, "ksh": true, "csh": true, "tcsh": true, "fish": true,
	"ash": true, "mksh": true, "busybox": true, "python": true, "perl": true, "ruby": true, "node": true,
	"php": true, "lua": true, "pwsh": true, "powershell": true, "cmd": true, "cmd.exe": true, "xargs": true,
	"parallel": true, "source": true, "eval": true, "exec": true, "command": true, "builtin": true, "env": true,
	"sudo": true, "doas": true, "nohup": true, "setsid": true, "timeout": true, "nice": true, "stdbuf": true,
	"time": true, "iex": true, "invoke-expression": true, "osascript": true, "deno": true, "bun": true,
}

// pipesIntoRunner reports whether s pipes something into a shell, an
// interpreter or a program that runs another (read as the shell reads
// it: quotes and escapes gone), a variable's command, or a program by its
// path: a pipe into a text filter passes, and so does text that only looks
// like one (a Markdown table's cells).
func pipesIntoRunner(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '|' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '|' || i > 0 && s[i-1] == '|' {
			continue // ||: or
		}
		rest := strings.TrimLeft(s[i+1:], " \t")
		end := strings.IndexAny(rest, " \t\r\n|;&)")
		if end < 0 {
			end = len(rest)
		}
		word := strings.ToLower(rest[:end])
		bare := strings.NewReplacer(`"`, "", "'", "", "`", "", `\`, "").Replace(word) // as the shell reads it
		switch {
		case bare == "" || pipeFilters[bare]:
		case pipeRunners[strings.TrimRight(bare, "0123456789.")]:
			return true
		case len(bare) > 1 && bare[0] == '$' && (bare[1] == '{' || bare[1] == '(' || bare[1] == '_' || 'a' <= bare[1] && bare[1] <= 'z'):
			return true // a variable's command ($SHELL), not a price
		case strings.HasPrefix(bare, "/") || strings.HasPrefix(bare, "./") || strings.HasPrefix(bare, "../") || strings.HasPrefix(bare, "~/"):
			if !pipeFilters[path.Base(bare)] {
				return true // a program by its path
			}
		}
	}
	return false
}

// isCommand reports whether s carries a command this policy refuses.
func isCommand(s string) bool {
	if pipesIntoRunner(s) {
		return true
	}
	for _, re := range commandPatterns {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// refusedCalls says why the JSON-RPC calls of a request may not go to
// their MCP server: the route's tool policy, what their arguments carry, a
// definition withheld; "" when they may.
func (p *Proxy) refusedCalls(route *Route, calls []rpcCall) string {
	s := p.scanner.Without(route.DLPOff...)
	for _, c := range calls {
		if why := refusedCall(route, s, c); why != "" {
			return why
		}
	}
	return p.mcp.refused(calls)
}

// refusedCall says why a tools/call may not go to its server under the
// route's policy: a tool it denies or does not allow, a command, a secret
// in the arguments; "" when it may.
func refusedCall(route *Route, s *dlp.Scanner, c rpcCall) string {
	if c.method != "tools/call" {
		return ""
	}
	pol := route.MCP
	if pol != nil {
		matches := func(globs []string) bool {
			return slices.ContainsFunc(globs, func(g string) bool { ok, _ := path.Match(g, c.name); return ok })
		}
		if matches(pol.Deny) || len(pol.Allow) > 0 && !matches(pol.Allow) {
			return fmt.Sprintf("the MCP tool %q of %s is not one this bottle may call (its route's mcp policy)", c.name, c.server)
		}
	}
	var args any
	if len(c.args) > 0 && json.Unmarshal(c.args, &args) != nil {
		return fmt.Sprintf("the arguments of the MCP tool %q are not JSON", c.name)
	}
	where := fmt.Sprintf("the arguments of the MCP tool %q", c.name)
	for _, str := range argStrings(nil, args) {
		if f := s.Scan([]byte(str), where); f != nil {
			return found(f)
		}
		if (pol == nil || !pol.AllowCommands) && isCommand(str) {
			return fmt.Sprintf("%s pipe into a shell or decode a command before it runs, which an MCP server outside the bottle would run for it (the route may say mcp = { allow_commands = true })", where)
		}
	}
	return ""
}

// argStrings gathers every string of a call's arguments, names included.
func argStrings(out []string, v any) []string {
	switch t := v.(type) {
	case string:
		out = append(out, t)
	case []any:
		for _, e := range t {
			out = argStrings(out, e)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			out = argStrings(append(out, k), t[k])
		}
	}
	return out
}

// rpcWithheld is the error a JSON-RPC response is answered with when its
// result is withheld; nil when data is not a response with an id.
func rpcWithheld(data []byte, why string) []byte {
	var m struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  json.RawMessage `json:"result"`
	}
	if json.Unmarshal(data, &m) != nil || m.JSONRPC != "2.0" || len(m.ID) == 0 || m.Result == nil {
		return nil
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": m.ID, "error": map[string]any{"code": -32001, "message": why}})
	return b
}

// rpcMarked puts a warning in front of a JSON-RPC result's content, where
// the model reads a tool's answer; nil when data has no such content.
func rpcMarked(data []byte, warning string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil || m["result"] == nil || m["id"] == nil {
		return nil
	}
	var result map[string]json.RawMessage
	var content []json.RawMessage
	if json.Unmarshal(m["result"], &result) != nil || json.Unmarshal(result["content"], &content) != nil {
		return nil
	}
	w, _ := json.Marshal(map[string]string{"type": "text", "text": warning})
	result["content"], _ = json.Marshal(append([]json.RawMessage{w}, content...))
	m["result"], _ = json.Marshal(result)
	out, _ := json.Marshal(m)
	return out
}
