package kube

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/bottle-sandbox/bottle/spec"
	"sigs.k8s.io/yaml"
)

// image is ref as the cluster pulls it; the sidecar image is the cluster's
// variant (with the isolation's tools).
func image(ref, registry string) string {
	if strings.HasPrefix(ref, spec.SidecarRepo+":") && !strings.HasSuffix(ref, kubeSuffix) {
		ref += kubeSuffix
	}
	if rest, ok := strings.CutPrefix(ref, "localhost/"); ok && registry != "" {
		return strings.TrimSuffix(registry, "/") + "/" + rest
	}
	return ref
}

// kubeSuffix ends the tag of the cluster's sidecar image.
const kubeSuffix = "-kube"

// YAML writes the bottle's objects as one YAML stream, for review or
// GitOps. Secrets are written with their keys and no values: bottle start
// fills them from the host.
func (b *Bottle) YAML(w io.Writer) error {
	var objs []any
	if b.Volume != nil {
		objs = append(objs, b.Volume)
	}
	for _, s := range b.Secrets {
		objs = append(objs, s.Secret)
	}
	objs = append(objs, b.Policy, b.Pod)
	var out bytes.Buffer
	for i, o := range objs {
		data, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("write the manifest: %w", err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(data)
	}
	_, err := w.Write(out.Bytes())
	return err
}
