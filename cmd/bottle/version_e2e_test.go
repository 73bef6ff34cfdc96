//go:build e2e

package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/pod"
)

// bottle version names the Podman service a bottle uses, as that service
// answers for itself, and the sidecar image its bottles run.
func TestVersionNamesThePodmanServiceAndTheSidecarImage(t *testing.T) {
	e := newEnv(t, "")
	out := e.mustRun("version", "--json")
	var r versionReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bottle version --json: %v\n%s", err, out)
	}
	if r.Podman == nil {
		t.Fatalf("no Podman service in %s", out)
	}
	// The service's own answer, over its socket, without bottle's code.
	sock := strings.TrimPrefix(r.Podman.URI, "unix://")
	client := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := client.Get("http://d/version")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Components []struct {
			Name    string
			Version string
			Details map[string]string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	var version, api string
	for _, c := range v.Components {
		if c.Name == "Podman Engine" {
			version, api = c.Version, c.Details["APIVersion"]
		}
	}
	if version == "" || r.Podman.Version != version || r.Podman.APIVersion != api {
		t.Errorf("bottle version says podman %q API %q; the service at %s says %q API %q", r.Podman.Version, r.Podman.APIVersion, sock, version, api)
	}
	if !r.Podman.Private && !slices.Contains(pod.Candidates(), r.Podman.URI) {
		t.Errorf("bottle version asked %s, not one of %v", r.Podman.URI, pod.Candidates())
	}
	if r.Podman.Rootless != rootless() {
		t.Errorf("bottle version says rootless=%v, running as uid %d", r.Podman.Rootless, os.Getuid())
	}
	if r.Bottle.Version == "" || r.Bottle.Commit == "" || r.Bottle.Built == "" || !strings.HasPrefix(r.Bottle.Go, "go") {
		t.Errorf("bottle's own part is incomplete: %+v", r.Bottle)
	}

	// A bottle run now uses the sidecar image bottle version names.
	e.mustRun("start", "--yes", "t", "--", "-c", "true")
	resp, err = client.Get("http://d/v4.0.0/libpod/images/" + r.Bottle.SidecarImage + "/exists")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("after a bottle ran, the service has no %s (exists answered %s)", r.Bottle.SidecarImage, resp.Status)
	}

	text := e.mustRun("version")
	for _, want := range []string{"version:       " + r.Bottle.Version, "sidecar image: " + r.Bottle.SidecarImage, "version:       " + version, "API version:   " + api} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("bottle version lacks %q:\n%s", want, text)
		}
	}
}
