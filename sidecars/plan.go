// Package sidecars assembles a bottle's plan: the pod, the agent's container
// and, one package each, the sidecar containers that share its network
// namespace. Nothing here talks to Podman.
package sidecars

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/workspace"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// Input is what a bottle's plan is built from.
type Input struct {
	Identity string
	Agent    *config.Agent
	// Image is where the agent's image comes from: the profile's reference,
	// or a Containerfile and the tag of its build (isolated when it is not
	// the user's own).
	Image     spec.Image
	Workdir   string
	StateRoot string // the folder holding every bottle's state
	Host      agent.Host
	Args      []string // agent arguments given after --, replacing the profile's
	Resume    bool     // a kept bottle carrying on
	Version   string
	// SidecarImage is the image the sidecars run: the sidecar binary.
	SidecarImage string
	// Workspace is the working directory as found at the bottle's first start.
	Workspace *workspace.Record
	// Gate is the git gate's plan; nil when there is no remote to serve.
	Gate *gitgate.Plan
	// SigninFile is the host's credentials file of the agent's subscription
	// login, which the gateway keeps fresh ("": the agent signs in otherwise).
	SigninFile string
	// TTY: the agent's streams are a terminal.
	TTY bool
	// Approved are the routes a person approved on the agent's requests,
	// which the bottle keeps besides its profile's.
	Approved []egress.Route
}

// Services are a bottle's services, as bottle logs names them.
var Services = []string{agent.Service, egress.Service, egress.GatewayService, gitgate.Service, supervise.Service}

// ContainerOf is the service whose container runs service: its own, but
// for the supervise server, which runs in the egress proxy's.
func ContainerOf(service string) string {
	if service == supervise.Service {
		return egress.Service
	}
	return service
}

// Exchange is what of a bottle's folder an engine that keeps it apart
// from the host's brings in step while the bottle runs: the agent's
// requests come to the host; the routes, the gateway's and the proxy's,
// and the person's answers go to the bottle, a request nobody has decided
// held back.
func Exchange(b *state.Bottle) spec.Exchange {
	requests := relTo(b.Dir, filepath.Join(b.SuperviseDir(), supervise.RequestsDir))
	store := supervise.Store{Dir: b.SuperviseDir()}
	return spec.Exchange{
		In: []string{requests},
		Out: []string{relTo(b.Dir, filepath.Join(b.EgressDir(), egress.PolicyDir, egress.RoutesFile)),
			relTo(b.Dir, filepath.Join(b.GatewayDir(), egress.RoutesFile)), requests},
		Hold: func(rel string) bool {
			name, ok := strings.CutPrefix(rel, requests+"/")
			return ok && store.Undecided(name)
		},
	}
}

// relTo is p below dir, in a tar stream's form.
func relTo(dir, p string) string {
	rel, _ := filepath.Rel(dir, p)
	return filepath.ToSlash(rel)
}

// RootLabel identifies a state root in labels, so bottles of different roots
// (a user's and a test's) never see each other's pods.
func RootLabel(root string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(root)))
	return hex.EncodeToString(sum[:])[:16]
}

// Bottle is the bottle's folder, where each service has its own.
func (in Input) Bottle() *state.Bottle { return state.Root{Dir: in.StateRoot}.Bottle(in.Identity) }

// AgentInput is the agent's part of in.
func AgentInput(in Input) agent.Input {
	dir := in.Bottle().AgentDir()
	return agent.Input{
		Agent:        in.Agent,
		Image:        in.Image,
		Workdir:      in.Workdir,
		StateDir:     dir,
		Host:         in.Host,
		Args:         in.Args,
		Resume:       in.Resume,
		SuperviseURL: supervise.URL,
		Labels:       labels(in, agent.Service),
		ExtraEnv:     agentEnv(in),
		ExtraMounts:  egress.AgentMounts(dir),
		Workspace:    in.Workspace,
	}
}

// agentEnv is what the sidecars add to the agent's environment.
func agentEnv(in Input) map[string]string {
	env := egress.PlanAgentEnv(in.Agent.Egress)
	env["BOTTLE_SUPERVISE_URL"] = supervise.URL
	env["BOTTLE_IDENTITY"] = in.Identity
	if in.Gate != nil {
		for k, v := range gitgate.AgentEnv(in.Gate.Config.Remotes) {
			env[k] = v
		}
	}
	return env
}

// SidecarCommand runs one service from the sidecar image, on its folder.
func SidecarCommand(service, dir string) []string {
	return []string{spec.SidecarBinary, "sidecar", service, "--dir", dir}
}

// Build plans a bottle: the egress gateway and proxy (which also serves the
// supervise server, and makes the pod's namespaces), the git gate when there
// is a remote, then the agent.
func Build(in Input) (*spec.Plan, error) {
	ac, err := agent.Container(spec.ContainerName(in.Identity, agent.Service), AgentInput(in))
	if err != nil {
		return nil, err
	}
	ac.TTY = in.TTY
	name := func(service string) string { return spec.ContainerName(in.Identity, service) }
	user := agent.SidecarUser(in.Agent, in.Host)
	p := Egress(in)
	cs := p.Containers
	if in.Gate != nil {
		cs = append(cs, gitgate.Container(name(gitgate.Service), gitgate.Input{
			Image:       in.SidecarImage,
			Dir:         in.Bottle().GitGateDir(),
			GatewayDir:  egress.SocketFolder(in.Bottle().EgressDir()),
			User:        user,
			Labels:      labels(in, gitgate.Service),
			Command:     SidecarCommand(gitgate.Service, gitgate.ContainerDir),
			HostObjects: in.Gate.HostObjects,
		}))
	}
	var gitDests []string
	if in.Gate != nil {
		gitDests = in.Gate.Destinations
	}
	p.Containers = append(cs, ac)
	p.Workspace = in.Agent.Workspace
	p.Dials = egress.DialsOf(in.Agent.EgressRoutes(), in.Approved, gitDests)
	p.Exchange = Exchange(in.Bottle())
	return p, nil
}

// Egress plans a bottle's pod with its egress alone: the gateway beside
// it, and the proxy (serving the supervise server too) that makes its
// namespaces. It is Build's start, and what a warm bottle runs ahead of
// its claim: nothing of it depends on the working directory, the agent's
// arguments or its terminal, so a claim's plan has the same.
func Egress(in Input) *spec.Plan {
	name := func(service string) string { return spec.ContainerName(in.Identity, service) }
	cs := egress.Containers(name, egress.Input{
		Image:      in.SidecarImage,
		Dir:        in.Bottle().EgressDir(),
		GatewayDir: in.Bottle().GatewayDir(),
		User:       agent.SidecarUser(in.Agent, in.Host),
		Labels:     func(service string) map[string]string { return labels(in, service) },
		ProxyCmd:   func(service string) []string { return SidecarCommand(service, egress.ContainerDir) },
		SigninFile: in.SigninFile,
	})
	for i := range cs {
		if cs[i].Service == ContainerOf(supervise.Service) {
			supervise.Into(&cs[i], in.Bottle().SuperviseDir())
		}
	}
	return &spec.Plan{
		Pod: spec.PodSpec{
			Name:       spec.PodName(in.Identity),
			Labels:     labels(in, ""),
			Namespaces: name(egress.Service),
			KeepID:     agent.KeepID(in.Agent, in.Host),
		},
		Containers: cs,
	}
}

func labels(in Input, service string) map[string]string {
	l := map[string]string{
		spec.LabelIdentity: in.Identity,
		spec.LabelAgent:    in.Agent.Name,
		spec.LabelRoot:     RootLabel(in.StateRoot),
		spec.LabelVersion:  in.Version,
	}
	if service != "" {
		l[spec.LabelService] = service
	}
	return l
}
