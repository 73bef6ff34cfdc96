package sidecarcli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The sidecar binary's command line gives bottle's exit codes: 0, the
// command's own (ready's 1 for a file not there), 125 with the error said
// once for a command line it refuses, the words after "--" kept apart.
func TestRunExitsAsBottleDoes(t *testing.T) {
	there := filepath.Join(t.TempDir(), "ready")
	os.WriteFile(there, nil, 0o644)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"a file there", []string{"sidecar", "ready", there}, 0, ""},
		{"a file not there", []string{"sidecar", "ready", there + ".not"}, 1, ""},
		{"stdin with no command", []string{"sidecar", "stdin", "/d"}, 125, "bottle: stdin: DIR -- COMMAND\n"},
		{"stdin with -- but no command", []string{"sidecar", "stdin", "/d", "--"}, 125, "bottle: stdin: DIR -- COMMAND\n"},
		{"an unknown flag", []string{"sidecar", "egress", "--dir", "/d", "--bogus"}, 125, "bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), "", append([]string{"bottle-sidecar"}, tc.args...), strings.NewReader(""), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d, %q", code, &stderr, tc.code, tc.stderr)
			}
		})
	}
}
