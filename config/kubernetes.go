package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Engines a profile may run on.
const (
	EnginePodman     = "podman"
	EngineKubernetes = "kubernetes"
)

// Kubernetes is how bottles land on a cluster: the user's [kubernetes]
// table (a working directory's file may not have one).
type Kubernetes struct {
	// Context is the kubeconfig context ("": the current one); the
	// kubeconfig is where kubectl finds it ($KUBECONFIG, ~/.kube/config).
	Context   string `json:"context,omitempty" toml:"context,omitempty"`
	Namespace string `json:"namespace,omitempty" toml:"namespace,omitempty"`
	// Registry is where the cluster pulls bottle's images from: bottle
	// pushes them there. Without one, Import puts them on the cluster.
	Registry string `json:"registry,omitempty" toml:"registry,omitempty"`
	// Import is a command that puts an image archive ({archive}) where the
	// cluster finds it (a test cluster's containerd, say).
	Import []string `json:"import,omitempty" toml:"import,omitempty"`
	// RuntimeClass is the class a runsc bottle runs under (default gvisor).
	RuntimeClass string `json:"runtime_class,omitempty" toml:"runtime_class,omitempty"`
	// Storage, when set, is the size of a PersistentVolumeClaim for a
	// bottle's folders; by default they are in an emptyDir on the node.
	Storage string `json:"storage,omitempty" toml:"storage,omitempty"`
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// NamespaceOrDefault is the namespace bottles go to.
func (k Kubernetes) NamespaceOrDefault() string {
	if k.Namespace == "" {
		return "default"
	}
	return k.Namespace
}

func (k *Kubernetes) validate(at func(key, msg string) error) error {
	var p problems
	if k.Namespace != "" && !dnsLabel.MatchString(k.Namespace) {
		p.add(at("namespace", fmt.Sprintf("%q is not a namespace name (lower-case letters, digits and -)", k.Namespace)))
	}
	if k.RuntimeClass != "" && !dnsLabel.MatchString(k.RuntimeClass) {
		p.add(at("runtime_class", fmt.Sprintf("%q is not a RuntimeClass name", k.RuntimeClass)))
	}
	if len(k.Import) > 0 && !slices.ContainsFunc(k.Import, func(a string) bool { return strings.Contains(a, "{archive}") }) {
		p.add(at("import", "the command must name the image archive as {archive}"))
	}
	if k.Registry != "" && strings.ContainsAny(k.Registry, " /\\") && !strings.Contains(k.Registry, ".") {
		p.add(at("registry", fmt.Sprintf("%q is not a registry (host[:port][/path])", k.Registry)))
	}
	return p.err()
}
