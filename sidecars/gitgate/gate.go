// Package gitgate is the bottle's only way to Git remotes: a sidecar in the
// pod that serves Git's smart HTTP protocol on loopback, one bare mirror per
// remote, checks every push against the remote's rules and a secret scan,
// and forwards accepted refs upstream with credentials the agent never sees
// (or holds them until `bottle git fetch`).
package gitgate

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/spec"
)

// Service is the gate's name and state subfolder.
const Service = "git-gate"

// Where things are.
const (
	Addr         = "127.0.0.1:7300"
	ContainerDir = "/run/bottle/git-gate"
	// GatewayDir is where the egress gateway's socket folder is mounted: the
	// gate reaches upstreams through it, like the proxy.
	GatewayDir  = "/run/bottle/gateway"
	ConfigFile  = "gate.json"
	SecretDir   = "secret" // credentials, 0700, in the gate's folder only
	MirrorDir   = "mirrors"
	AuditFile   = "audit.jsonl"
	ReadyFile   = "ready"
	gatewaySock = "gateway.sock"
	// injectedFile, in SecretDir, lists secret values no push may carry.
	injectedFile = "injected.json"
)

// Configured reports whether the gate's folder dir holds a gate (a bottle
// whose workspace had no remote has none).
func Configured(dir beneath.Dir) bool {
	_, err := dir.Lstat(ConfigFile)
	return err == nil
}

// AuditPath is the gate's audit log in its folder dir: a JSON line per push.
func AuditPath(dir string) string { return filepath.Join(dir, AuditFile) }

// Config is what the gate reads from ConfigFile: no secret, only file names.
type Config struct {
	Identity string   `json:"identity"`
	Remotes  []Remote `json:"remotes"`
}

// Remote is one remote as the gate serves it.
type Remote struct {
	Name string `json:"name"`
	// Upstream is where accepted pushes and fetches go.
	Upstream string `json:"upstream,omitempty"`
	// AgentURLs are the URLs the agent's repository names for this remote;
	// its git is told to use the gate instead of each.
	AgentURLs []string `json:"agent_urls,omitempty"`
	Mode      string   `json:"mode"`
	// Credentials, as files in SecretDir.
	SSHKey     string `json:"ssh_key,omitempty"`
	KnownHosts string `json:"known_hosts,omitempty"`
	Username   string `json:"username,omitempty"`
	Token      string `json:"token,omitempty"`
	CA         string `json:"ca,omitempty"`
	Rules      Rules  `json:"rules"`
}

// URL is the remote's address at the gate, as the agent reaches it.
func URL(remote string) string { return "http://" + Addr + "/" + remote + ".git" }

// MirrorPath is a remote's bare mirror under the gate's folder.
func MirrorPath(dir, remote string) string { return filepath.Join(dir, mirrorRel(remote)) }

// mirrorRel is a remote's mirror below the gate's folder.
func mirrorRel(remote string) string { return MirrorDir + "/" + remote + ".git" }

// ReadConfig reads the gate's configuration from its folder.
func ReadConfig(dir beneath.Dir) (*Config, error) {
	data, err := dir.ReadFile(ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("git gate: %w", err)
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("git gate: %s: %w", ConfigFile, err)
	}
	return &c, nil
}

func writeConfig(dir beneath.Dir, c *Config) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return dir.WriteFile(ConfigFile, append(data, '\n'), 0o644)
}

// Input is what the gate's container is planned from.
type Input struct {
	Image      string
	Dir        string // the gate's state folder on the host
	GatewayDir string // the egress gateway's socket folder on the host
	User       string
	Labels     map[string]string
	Command    []string
	// HostObjects are the host repositories' object folders to mount read-only.
	HostObjects []string
}

// Container plans the gate, in the pod.
func Container(name string, in Input) spec.Container {
	mounts := []spec.Mount{
		{Source: in.Dir, Target: ContainerDir},
		{Source: filepath.Join(in.Dir, SecretDir), Target: filepath.Join(ContainerDir, SecretDir), ReadOnly: true, Secret: true},
		{Source: in.GatewayDir, Target: GatewayDir, Sockets: true},
	}
	for _, o := range in.HostObjects {
		mounts = append(mounts, spec.Mount{Source: o, Target: o, ReadOnly: true})
	}
	return spec.Container{
		Name:      name,
		Service:   Service,
		Image:     spec.Image{Ref: in.Image},
		Command:   in.Command,
		User:      in.User,
		Mounts:    mounts,
		Labels:    in.Labels,
		Resources: spec.Resources{MemoryBytes: 512 << 20, Pids: 256},
		Ready:     []string{filepath.Join(in.Dir, ReadyFile)},
	}
}

// AgentEnv points the agent's git at the gate: for every URL its repository
// names, url.<gate>.insteadOf through Git's environment configuration, so the
// repository's own config is never rewritten.
func AgentEnv(remotes []Remote) map[string]string {
	env := map[string]string{}
	n := 0
	for _, r := range remotes {
		for _, u := range r.AgentURLs {
			env[fmt.Sprintf("GIT_CONFIG_KEY_%d", n)] = "url." + URL(r.Name) + ".insteadOf"
			env[fmt.Sprintf("GIT_CONFIG_VALUE_%d", n)] = u
			n++
		}
	}
	if n > 0 {
		env["GIT_CONFIG_COUNT"] = fmt.Sprint(n)
	}
	return env
}
