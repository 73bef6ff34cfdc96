package kube

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// egressOf is a policy's egress rules as text: each rule's peers (an
// address block, or anywhere) and its ports.
func egressOf(p *netv1.NetworkPolicy) []string {
	var out []string
	for _, r := range p.Spec.Egress {
		to := "anywhere"
		if len(r.To) > 0 {
			to = ""
			for _, peer := range r.To {
				to += peer.IPBlock.CIDR + " "
			}
		}
		for _, port := range r.Ports {
			to += " " + string(*port.Protocol) + "/" + port.Port.String()
		}
		out = append(out, to)
	}
	return out
}

// clusterPlan is a plan whose gateway dials a name, an address and a
// wildcard, in a bottle's folder below root.
func clusterPlan(t *testing.T, root string) *spec.Plan {
	t.Helper()
	a := &config.Agent{Name: "shell", MemoryBytes: 1 << 30, Profile: config.Profile{Image: "localhost/bottle-base:latest", Command: []string{"/bin/sh"},
		Workspace: config.WorkspaceCopy, Memory: "1g", Egress: []config.Route{
			{Host: "api.example.com", Ports: []int{443}},
			{Host: "mirror.example.test", Ports: []int{443}, Upstream: "https://10.231.0.1:18443"},
			{Host: "*.example.org", Ports: []int{8443}},
		}}}
	p, err := sidecars.Build(sidecars.Input{Identity: "shell-abcde", Agent: a, Image: spec.Image{Ref: a.Image}, Workdir: "/home/u/project",
		StateRoot: root, Version: "test", SidecarImage: "localhost/bottle-sidecar:0123", Host: agent.Host{UID: 0, OwnerUID: 1000, OwnerGID: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	b := state.Root{Dir: root}.Bottle("shell-abcde")
	os.MkdirAll(b.EgressDir(), 0o700)
	for _, f := range []string{"secrets.json", "ca.key"} {
		os.WriteFile(filepath.Join(b.EgressDir(), f), []byte("{}"), 0o600)
	}
	return p
}

// A started bottle gets the NetworkPolicy bottle kube manifest prints for
// it: DNS, and TCP to where its gateway dials, an address's own block
// where the gateway dials an address (a rewritten upstream's port, not the
// route's).
func TestStartedBottleGetsThePlansPolicy(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	p := clusterPlan(t, root)
	e := &Engine{cs: fake.NewSimpleClientset(), ns: "default", root: state.Root{Dir: root}}
	if err := e.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := e.cs.NetworkingV1().NetworkPolicies("default").Get(ctx, "bottle-shell-abcde", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := Objects(p, state.Root{Dir: root}.Bottle("shell-abcde").Dir, Options{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Spec, manifest.Policy.Spec) {
		t.Errorf("the started bottle's policy:\n%v\nthe manifest's:\n%v", egressOf(got), egressOf(manifest.Policy))
	}
	want := []string{"anywhere UDP/53 TCP/53", "10.231.0.1/32  TCP/18443", "anywhere TCP/443 TCP/8443"}
	if g := egressOf(got); !reflect.DeepEqual(g, want) {
		t.Errorf("the policy lets out %q, want %q", g, want)
	}
}

// An approval that adds a route lets the bottle's gateway dial it: the
// policy follows where the gateway dials now.
func TestPolicyFollowsApprovals(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	p := clusterPlan(t, root)
	e := &Engine{cs: fake.NewSimpleClientset(), ns: "default", root: state.Root{Dir: root}}
	if err := e.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	dials := append(p.Dials, spec.Dial{Host: "10.231.0.1", Port: 18080}, spec.Dial{Host: "pypi.org", Port: 443})
	if err := e.Sync(ctx, "shell-abcde", spec.Exchange{Dials: dials}); err != nil {
		t.Fatal(err)
	}
	got, err := e.cs.NetworkingV1().NetworkPolicies("default").Get(ctx, "bottle-shell-abcde", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"anywhere UDP/53 TCP/53", "10.231.0.1/32  TCP/18080 TCP/18443", "anywhere TCP/443 TCP/8443"}
	if g := egressOf(got); !reflect.DeepEqual(g, want) {
		t.Errorf("after the approval the policy lets out %q, want %q", g, want)
	}
}
