package supervise

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/spec"
)

// currentConfig is what current_config shows the agent: never a secret.
type currentConfig struct {
	Agent         string        `json:"agent"`
	Image         string        `json:"image"` // the image the agent runs now, to build FROM
	Containerfile string        `json:"containerfile,omitempty"`
	Egress        []configRoute `json:"egress"`
}

type configRoute struct {
	Host       string `json:"host"`
	Ports      []int  `json:"ports"`
	Intercept  bool   `json:"intercept"`
	Credential string `json:"credential,omitempty"` // the header it injects and where from, not the value
}

// ConfigPath is the configuration the agent may read, in the supervise folder dir.
func ConfigPath(dir string) string { return filepath.Join(dir, ConfigFile) }

// Prepare writes the supervise folder: the configuration the agent may read,
// and an empty requests folder. Requests of an earlier run stay: a pending
// request survives a restart.
func Prepare(dir string, a *config.Agent, imageRef string, containerfile []byte) error {
	sv, err := beneath.Make(dir, 0o700)
	if err != nil {
		return fmt.Errorf("prepare supervise: %w", err)
	}
	if err := sv.MkdirAll(RequestsDir, 0o700); err != nil {
		return fmt.Errorf("prepare supervise: %w", err)
	}
	if err := sv.RemoveAll(ReadyFile); err != nil {
		return fmt.Errorf("prepare supervise: %w", err)
	}
	cc := currentConfig{Agent: a.Name, Image: imageRef, Containerfile: string(containerfile), Egress: []configRoute{}}
	for _, r := range a.Egress {
		cr := configRoute{Host: r.Host, Ports: r.PortList(), Intercept: r.Intercepts()}
		if c := r.Credential; c != nil {
			cr.Credential = c.Carrier() + " from " + c.Source()
		}
		cc.Egress = append(cc.Egress, cr)
	}
	data, err := json.MarshalIndent(cc, "", "  ")
	if err != nil {
		return err
	}
	return sv.WriteFile(ConfigFile, append(data, '\n'), 0o644)
}

// Flag is the sidecar command's flag that names the supervise folder to serve.
const Flag = "supervise"

// Into plans the supervise server into a sidecar container of the pod (the
// egress proxy's), which serves it from its own mounted folder. A container
// of its own would cost every start and teardown a fifth of its time.
func Into(ct *spec.Container, dir string) {
	ct.Mounts = append(ct.Mounts, spec.Mount{Source: dir, Target: ContainerDir})
	ct.Command = append(ct.Command, "--"+Flag, ContainerDir)
	ct.Ready = append(ct.Ready, filepath.Join(dir, ReadyFile))
	ct.Resources.MemoryBytes += 64 << 20
}
