package egress

import (
	"testing"
)

// TestOutsideKeyOverContinuedLines: a key written over the lines of a
// config file's string, each line ending in a backslash and the next
// indented (TOML's multi-line strings and YAML's double-quoted ones drop
// both), or a shell command's. The wrapped view joined lines broken by a
// line break alone: on main each got out.
func TestOutsideKeyOverContinuedLines(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	k := outsideGitHub
	refusedAll(t, o, F, map[string]string{
		"toml":       post("/upload", F, "application/toml", "token = \"\"\"\\\n    "+k[:14]+"\\\n    "+k[14:28]+"\\\n    "+k[28:]+"\"\"\"\n"),
		"yaml":       post("/upload", F, "application/yaml", "token: \""+k[:14]+"\\\n  "+k[14:28]+"\\\n  "+k[28:]+"\"\n"),
		"toml, crlf": post("/upload", F, "application/toml", "token = \"\"\"\\\r\n\t"+k[:10]+"\\\r\n\t"+k[10:20]+"\\\r\n\t"+k[20:30]+"\\\r\n\t"+k[30:]+"\"\"\"\r\n"),
		"aws, toml":  post("/upload", F, "application/toml", "id = \"\"\"\\\n  "+outsideAWS[:10]+"\\\n  "+outsideAWS[10:]+"\"\"\"\n"),
	})
	passedAll(t, o, F, map[string]string{
		"a shell script": textPost(F, "docker run --rm \\\n  -v \"$PWD:/src\" \\\n  -w /src \\\n  golang:1.22 \\\n  go build ./...\n"),
		"a c macro":      textPost(F, "#define MAX(a, b) \\\n  ((a) > (b) ? (a) : (b))\n"),
	})
}
