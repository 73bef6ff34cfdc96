package engines

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/state"
)

// bottle kube manifest's NetworkPolicy lets out where the gateway dials:
// a rewritten upstream's address and port, not the route's port.
func TestManifestAllowsWhatTheGatewayDials(t *testing.T) {
	dir := t.TempDir()
	cfgFile, work, exe := filepath.Join(dir, "config.toml"), filepath.Join(dir, "work"), filepath.Join(dir, "exe")
	os.MkdirAll(work, 0o755)
	os.WriteFile(exe, []byte("bottle"), 0o755)
	os.WriteFile(cfgFile, []byte(`
[agents.k]
extends = "shell"
image = "localhost/bottle-base:latest"
[[agents.k.egress]]
host = "mirror.example.test"
ports = [443]
upstream = "https://10.231.0.1:18443"
`), 0o600)
	cfg, err := config.Load(config.Sources{User: cfgFile, Explicit: true, Workdir: filepath.Join(work, "bottle.toml")})
	if err != nil {
		t.Fatal(err)
	}
	a, err := cfg.Agent("k")
	if err != nil {
		t.Fatal(err)
	}
	env := lifecycle.Env{Root: state.Root{Dir: filepath.Join(dir, "state")}, Stdout: io.Discard, Stderr: io.Discard, Version: "test", Exe: exe}
	var out bytes.Buffer
	if err := WriteManifest(context.Background(), env, &lifecycle.Launch{Agent: a, Workdir: work}, Cluster{Namespace: "default"}, ClusterOptions{}, &out); err != nil {
		t.Fatal(err)
	}
	policy := out.String()[strings.Index(out.String(), "kind: NetworkPolicy"):]
	policy = policy[:strings.Index(policy, "---")]
	for _, want := range []string{"cidr: 10.231.0.1/32", "port: 18443"} {
		if !strings.Contains(policy, want) {
			t.Errorf("the manifest's policy lacks %q:\n%s", want, policy)
		}
	}
}
