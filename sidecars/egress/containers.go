package egress

import (
	"path/filepath"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/spec"
)

// Input is what the egress containers are planned from.
type Input struct {
	Image string // the sidecar image
	Dir   string // the egress state folder on the host
	// GatewayDir is the gateway's own folder on the host, holding its copy
	// of the routes: mounted into the gateway alone.
	GatewayDir string
	User       string // uid:gid the proxy runs as, in the pod
	Labels     func(service string) map[string]string
	ProxyCmd   func(service string) []string // the sidecar image's command for a service
	// SigninFile is the host's credentials file of a subscription login the
	// gateway keeps fresh ("": none); mounted into the gateway alone.
	SigninFile string
}

// Containers plans the gateway (outside the pod, on the host's network) and
// the proxy (in the pod), in the order they start.
func Containers(name func(service string) string, in Input) []spec.Container {
	gw := spec.Container{
		Name:    name(GatewayService),
		Service: GatewayService,
		Image:   spec.Image{Ref: in.Image},
		Command: in.ProxyCmd(GatewayService),
		// Outside the pod there is no keep-id: rootless, root of Podman's user
		// namespace is the invoking user, who owns the state; rootful, root does.
		User: "0:0",
		Mounts: []spec.Mount{
			{Source: in.GatewayDir, Target: filepath.Join(ContainerDir, PolicyDir), ReadOnly: true},
			{Source: filepath.Join(in.Dir, SocketDir), Target: filepath.Join(ContainerDir, SocketDir), Sockets: true},
		},
		Labels:     in.Labels(GatewayService),
		Resources:  spec.Resources{MemoryBytes: 128 << 20, Pids: 256},
		OutsidePod: true,
		Ready:      []string{filepath.Join(in.Dir, SocketDir, SocketName)},
	}
	if in.SigninFile != "" {
		gw.Mounts = append(gw.Mounts, spec.Mount{Source: in.SigninFile, Target: SigninFile}) // written back on refresh
	}
	proxy := spec.Container{
		Name:    name(Service),
		Service: Service,
		Image:   spec.Image{Ref: in.Image},
		Command: in.ProxyCmd(Service),
		User:    in.User,
		// The proxy writes its audit and ready file; its routes it only reads.
		Mounts: []spec.Mount{
			{Source: in.Dir, Target: ContainerDir},
			{Source: filepath.Join(in.Dir, PolicyDir), Target: filepath.Join(ContainerDir, PolicyDir), ReadOnly: true},
			{Source: filepath.Join(in.Dir, SocketDir), Target: filepath.Join(ContainerDir, SocketDir), Sockets: true},
			{Source: filepath.Join(in.Dir, SecretsFile), Target: filepath.Join(ContainerDir, SecretsFile), ReadOnly: true, Secret: true},
			{Source: filepath.Join(in.Dir, CAKeyFile), Target: filepath.Join(ContainerDir, CAKeyFile), ReadOnly: true, Secret: true},
		},
		Labels:    in.Labels(Service),
		Resources: spec.Resources{MemoryBytes: 256 << 20, Pids: 256},
		Ready:     []string{filepath.Join(in.Dir, ReadyFile)},
	}
	return []spec.Container{gw, proxy}
}

// SocketFolder is the folder of the egress folder dir that holds the
// gateway's sockets: shared with the gateway and the git gate.
func SocketFolder(dir string) string { return filepath.Join(dir, SocketDir) }

// AuditPath is the proxy's audit log in the egress folder dir.
func AuditPath(dir string) string { return filepath.Join(dir, AuditFile) }

// AgentMounts are the CA files the agent's container trusts.
func AgentMounts(agentDir string) []spec.Mount {
	ca, bundle := agent.CAFiles(agentDir)
	return []spec.Mount{
		{Source: ca, Target: AgentCA, ReadOnly: true},
		{Source: bundle, Target: AgentBundle, ReadOnly: true},
	}
}

// PlanAgentEnv is the agent's environment from the egress side, known from
// the routes alone: proxy and CA variables and credential placeholders.
func PlanAgentEnv(routes []config.Route) map[string]string {
	env := AgentEnv()
	for _, r := range routes {
		if r.Credential != nil && r.Credential.AgentEnv != "" {
			env[r.Credential.AgentEnv] = Placeholder
		}
	}
	return env
}
