package engines

import (
	"context"
	"io"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/kube"
	"github.com/bottle-sandbox/bottle/lifecycle"
)

// ClusterOptions say how a bottle lands on a cluster, as [kubernetes] does.
type ClusterOptions struct {
	Registry, RuntimeClass, Storage string
}

// WriteManifest plans the launch l as it would start on the cluster at
// (keeping nothing, asking no cluster) and writes the objects it would
// make there as YAML, for review or GitOps.
func WriteManifest(ctx context.Context, env lifecycle.Env, l *lifecycle.Launch, at Cluster, o ClusterOptions, w io.Writer) error {
	k := config.Kubernetes{Context: at.Context, Namespace: at.Namespace, Registry: o.Registry, RuntimeClass: o.RuntimeClass, Storage: o.Storage}
	pf, err := l.Plan(ctx, env, kube.Describe(k))
	if err != nil {
		return err
	}
	b, err := kube.Objects(pf.Plan, env.Root.Bottle(pf.ID).Dir, kube.Options{Namespace: k.NamespaceOrDefault(), Registry: k.Registry,
		RuntimeClass: k.RuntimeClass, Storage: k.Storage})
	if err != nil {
		return err
	}
	return b.YAML(w)
}
