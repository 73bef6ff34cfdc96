package sidecars

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/spec"
)

var update = flag.Bool("update", false, "rewrite golden files")

func profile(mod func(a *config.Agent)) *config.Agent {
	a := &config.Agent{Name: "shell", MemoryBytes: 2 << 30, Profile: config.Profile{Image: "localhost/bottle-base:latest", Command: []string{"/bin/sh"},
		Workspace: config.WorkspaceBind, Runtime: config.RuntimeRunc, Memory: "2g", CPUs: 2, Pids: 1024,
		Env: map[string]string{"GREETING": "hello"}}}
	if mod != nil {
		mod(a)
	}
	return a
}

func TestBuildGolden(t *testing.T) {
	rootless := agent.Host{Rootless: true, UID: 1001, GID: 1001, OwnerUID: 1001, OwnerGID: 1001}
	rootful := agent.Host{UID: 0, GID: 0, OwnerUID: 1000, OwnerGID: 100}
	rootOwned := agent.Host{UID: 0, GID: 0}
	cases := []struct {
		name string
		in   Input
	}{
		{"rootless-bind", Input{Agent: profile(nil), Host: rootless}},
		{"rootful-bind", Input{Agent: profile(nil), Host: rootful, Args: []string{"-c", "echo hi"}}},
		{"rootful-copy-root-owned", Input{Agent: profile(func(a *config.Agent) { a.Workspace = config.WorkspaceCopy }), Host: rootOwned}},
		{"runsc-prompt", Input{Agent: profile(func(a *config.Agent) { a.Runtime = config.RuntimeRunsc; a.Prompt = "do it" }), Host: rootless}},
		{"containerfile", Input{Agent: profile(func(a *config.Agent) {
			a.Image, a.Containerfile, a.Context = "", "/src/Containerfile", "/src"
		}), Image: spec.Image{Ref: "localhost/bottle-shell:0123456789abcdef", Containerfile: "/src/Containerfile", Context: "/src"}, Host: rootless}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Identity, in.Workdir, in.StateRoot, in.Version, in.SidecarImage = "shell-abcde", "/home/u/project", "/state", "test", "localhost/bottle-sidecar:0123456789abcdef"
			if in.Image.Ref == "" {
				in.Image.Ref = in.Agent.Image
			}
			p, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			// The pod's containers start in plan order, and join the
			// namespaces of the first of them in the pod.
			for _, c := range p.Containers {
				if !c.OutsidePod {
					if c.Name != p.Pod.Namespaces {
						t.Errorf("first container in the pod is %s, want the namespaces' maker %s", c.Name, p.Pod.Namespaces)
					}
					break
				}
			}
			got, _ := json.MarshalIndent(p, "", "  ")
			got = append(got, '\n')
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				os.WriteFile(golden, got, 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("plan differs from %s:\n%s", golden, got)
			}
		})
	}
}

func TestRootfulBindOfRootOwnedDirIsRefused(t *testing.T) {
	in := Input{Identity: "shell-abcde", Agent: profile(nil), Image: spec.Image{Ref: "x"}, Workdir: "/root/project", StateRoot: "/state", Host: agent.Host{}}
	_, err := Build(in)
	if err == nil || !strings.Contains(err.Error(), "/root/project") || !strings.Contains(err.Error(), `workspace = "copy"`) {
		t.Fatalf("Build = %v, want an error naming the folder and the fix", err)
	}
}

func TestRootLabelDiffersByRoot(t *testing.T) {
	if RootLabel("/a") == RootLabel("/b") || RootLabel("/a") != RootLabel("/a/") {
		t.Error("RootLabel must tell roots apart and ignore a trailing slash")
	}
}
