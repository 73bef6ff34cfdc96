package inpod

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/hostiletest"
)

// The hostile-tree harness over what a cluster bottle's folders go through
// on the host: the copy onto its volume (a tar of the folders containers
// write) and the copy back (a tar from the volume written over them).

// clusterBottle makes a bottle's folder as a start leaves it, below base.
func clusterBottle(t *testing.T, base string) (*hostiletest.Fixture, string) {
	t.Helper()
	outside, login := hostiletest.NewOutside(t, base)
	st := filepath.Join(base, "state", "k-abcde")
	files := map[string]string{
		"agent/home/.config/settings.json": `{"a":1}`,
		"agent/workspace/src/main.go":      "package main\n",
		"git-gate/audit.jsonl":             "{}\n",
		"supervise/requests/r1.json":       `{"status":"pending"}`,
		"egress/audit.jsonl":               "{}\n",
	}
	for rel, data := range files {
		p := filepath.Join(st, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(data), 0o644)
	}
	secrets := filepath.Join(st, "egress", "secrets.json")
	os.WriteFile(secrets, []byte(hostiletest.Marker+"-secret"), 0o600)
	own := filepath.Join(st, "workspace.json")
	os.WriteFile(own, []byte(hostiletest.Marker+"-record"), 0o600)
	fx := &hostiletest.Fixture{
		Outside: outside, Login: login, Secrets: secrets, Own: own,
		Scan: []string{st},
		Hostile: []string{filepath.Join(st, "agent", "home"), filepath.Join(st, "agent", "workspace"),
			filepath.Join(st, "git-gate"), filepath.Join(st, "supervise"), filepath.Join(st, "egress")},
	}
	return fx, st
}

func TestHostileTreeCopyBack(t *testing.T) {
	// What the volume sends back: the agent's writes, a new request, audit lines.
	var stream bytes.Buffer
	tw := tar.NewWriter(&stream)
	for name, data := range map[string]string{
		"agent/home/.config/settings.json": `{"a":2}`,
		"agent/home/.cache/new":            "new",
		"agent/workspace/src/main.go":      "package main // changed\n",
		"supervise/requests/r2.json":       `{"status":"pending"}`,
		"egress/audit.jsonl":               "{}\n{}\n",
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	hostiletest.Run(t, func(t *testing.T) *hostiletest.Fixture {
		fx, st := clusterBottle(t, t.TempDir())
		fx.Step = func() error {
			return Untar(beneath.At(st), bytes.NewReader(stream.Bytes()), -1, "agent", "git-gate", "supervise", "egress")
		}
		return fx
	})
}

func TestHostileTreeCopyOnto(t *testing.T) {
	hostiletest.Run(t, func(t *testing.T) *hostiletest.Fixture {
		fx, st := clusterBottle(t, t.TempDir())
		fx.Step = func() error {
			var out bytes.Buffer
			// As the seed does: the credentials go in Secrets, not on the volume.
			err := TarFolders(st, []string{"agent", "git-gate", "supervise", "egress"}, map[string]bool{fx.Secrets: true}, &out)
			if bytes.Contains(out.Bytes(), []byte(hostiletest.Marker)) {
				t.Errorf("the copy onto the volume carries what was outside")
			}
			return err
		}
		return fx
	})
}
