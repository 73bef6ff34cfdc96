package kube

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// The agent's go-ahead follows a proof, from its own container, that the
// API server is out of its reach, as the kubeconfig names it: however it
// names it. client-go takes a server without a scheme (https is implied)
// and one without a port (the scheme's); a target the proof leaves out is
// one it never tries, and a proof with no target at all passes.
func TestIsolationTargetsNameTheServerHoweverItIsWritten(t *testing.T) {
	cs := fake.NewSimpleClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10"}})
	for host, api := range map[string]string{
		"https://10.0.0.1:6443": "10.0.0.1:6443",
		"10.0.0.1:6443":         "10.0.0.1:6443",
		"10.0.0.1":              "10.0.0.1:80", // no TLS configured: client-go speaks http
		"https://api.example":   "api.example:443",
		"http://api.example":    "api.example:80",
		"api.example:6443":      "api.example:6443",
	} {
		e := &Engine{cfg: &rest.Config{Host: host}, cs: cs, ns: "default"}
		got := e.isolationTargets(context.Background())
		want := []string{api, "10.96.0.1:443", "udp://10.96.0.10:53"}
		if !slices.Equal(got, want) {
			t.Errorf("server %q: the proof tries %q, want %q", host, got, want)
		}
	}
}
