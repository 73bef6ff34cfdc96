//go:build e2e

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The Kubernetes tests run against a real single-node cluster
// (hack/kube-up.sh), from inside its network namespace; hack/e2e.sh sets
// BOTTLE_KUBECONFIG and BOTTLE_KUBECTL. They run only in that phase.

func kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	bin, cfg := os.Getenv("BOTTLE_KUBECTL"), os.Getenv("BOTTLE_KUBECONFIG")
	if bin == "" || cfg == "" {
		t.Fatal("BOTTLE_KUBECTL and BOTTLE_KUBECONFIG must name kubectl and the test cluster (hack/e2e.sh sets them)")
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", cfg}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// bottle kube manifest prints what a start would make on a cluster, and the
// real API server takes it (server-side dry run): for runc and gVisor, with
// egress routes, credentials in a Secret of the proxy's own.
func TestKubeManifestIsAcceptedByTheAPIServer(t *testing.T) {
	e := newEnv(t, `
[agents.k]
extends = "t"
[[agents.k.egress]]
host = "api.example.test"
ports = [443]
[agents.k.egress.credential]
header = "x-api-key"
from_env = "BOTTLE_E2E_KUBE_KEY"

[agents.g]
extends = "k"
runtime = "runsc"
`)
	e.extraEnv = append(e.extraEnv, "BOTTLE_E2E_KUBE_KEY=kube-test-key-not-printed")
	for _, profile := range []string{"k", "g"} {
		t.Run(profile, func(t *testing.T) {
			manifest := e.mustRun("kube", "manifest", "--namespace", "default", profile)
			for _, want := range []string{"kind: Pod", "kind: PersistentVolumeClaim", "kind: NetworkPolicy", "kind: Secret", "NET_ADMIN", "restartPolicy: Always", "automountServiceAccountToken: false", "RuntimeDefault"} {
				if !strings.Contains(manifest, want) {
					t.Errorf("the manifest lacks %q", want)
				}
			}
			if strings.Contains(manifest, "kube-test-key-not-printed") {
				t.Error("the manifest holds the credential's value")
			}
			if profile == "g" && !strings.Contains(manifest, "runtimeClassName: gvisor") {
				t.Error("a runsc profile's pod does not ask for gVisor")
			}
			out, err := kubectl(t, manifest, "apply", "--dry-run=server", "-f", "-")
			if err != nil {
				t.Fatalf("the API server refused the manifest: %v\n%s\n%s", err, out, manifest)
			}
			// The dry run can fail: a field the API does not know is refused.
			if out, err := kubectl(t, strings.Replace(manifest, "restartPolicy: Never", "restartPolicy: Never\n  bogusField: 1", 1), "apply", "--dry-run=server", "--validate=strict", "-f", "-"); err == nil {
				t.Errorf("a manifest with an unknown field was accepted:\n%s", out)
			}
		})
	}
	if s := e.states(); len(s) != 0 {
		t.Errorf("a manifest left state behind: %v", s)
	}
}
