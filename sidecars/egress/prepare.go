package egress

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// Service is the egress sidecar's name and state subfolder; GatewayService the gateway's.
const (
	Service        = "egress"
	GatewayService = "gateway"
)

// Paths inside the containers.
const (
	ProxyAddr    = "127.0.0.1:3128"
	ContainerDir = "/run/bottle/egress"
	AgentCA      = "/etc/bottle/ca.pem"        // the bottle's CA alone
	AgentBundle  = "/etc/bottle/ca-bundle.pem" // the host's roots plus the bottle's CA
	Placeholder  = "bottle-placeholder"
)

// hostRoots is where Debian-like hosts keep their CA bundle.
var hostRoots = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"}

// Prepare writes the egress state folder: the routes, the resolved secrets
// (0600), the per-bottle CA, and for the agent a copy of the CA certificate.
// The secrets are resolved here, on the host; their values are returned for
// the git gate, which refuses pushes that carry one, and written nowhere else.
// approved are routes a person approved on the agent's requests, as
// AddRoute made them live, after the profile's (which win where both match).
// gitDests are the git gate's upstreams (host:port), for the gateway alone;
// gitNamed those of them the person's own config names, which alone may
// reach this machine or its network.
// gatewayDir is the gateway's own folder, where it finds its copy of the
// routes: outside the egress folder, so the proxy cannot write it ("": the
// gateway reads the egress folder's, as the bench runs it).
//
// buildRoutes are what a build of a Containerfile that is not the user's own
// may reach, through this proxy (BuildRoutes): kept aside for the length of
// such a build, in the gateway's folder.
func Prepare(ctx context.Context, identity, dir, gatewayDir, agentDir string, routes []config.Route, approved []Route, buildRoutes []config.Route, gitDests, gitNamed []string) (secretValues []string, err error) {
	return prepare(ctx, identity, dir, gatewayDir, agentDir, routes, approved, buildRoutes, gitDests, gitNamed, false)
}

func prepare(ctx context.Context, identity, dir, gatewayDir, agentDir string, routes []config.Route, approved []Route, buildRoutes []config.Route, gitDests, gitNamed []string, claim bool) (secretValues []string, err error) {
	eg, err := beneath.Make(dir, 0o700)
	if err != nil {
		return nil, fmt.Errorf("prepare egress: %w", err)
	}
	for _, d := range []string{PolicyDir, SocketDir} {
		if err := eg.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("prepare egress: %w", err)
		}
	}
	// A resumed bottle's sidecars must prove themselves ready again; a
	// claimed one's proxy, which loads what is written here once it is
	// released, too (its gateway runs on).
	stale := []string{ReadyFile, SocketDir + "/" + SocketName}
	if claim {
		stale = stale[:1]
	}
	for _, f := range stale {
		if err := eg.RemoveAll(f); err != nil {
			return nil, fmt.Errorf("prepare egress: %w", err)
		}
	}
	secrets := map[string]string{}
	p, err := policyOf(ctx, eg, "route", routes, secrets)
	if err != nil {
		return nil, err
	}
	p.Routes = append(p.Routes, approved...)
	p.Git, p.GitNamed = gitDests, gitNamed
	gw, err := gatewayFolder(gatewayDir)
	if err != nil {
		return nil, err
	}
	if err := signinPolicy(&p, eg, gw); err != nil {
		return nil, err
	}
	if gw != nil && len(buildRoutes) > 0 {
		bp, err := policyOf(ctx, eg, "build", buildRoutes, secrets)
		if err != nil {
			return nil, err
		}
		for name, pol := range map[string]Policy{buildRoutesFile: bp, agentRoutesFile: p} {
			if err := writeJSON(*gw, name, pol, 0o600); err != nil {
				return nil, err
			}
		}
	}
	writeSecrets := writeJSON
	if claim {
		writeSecrets = overwriteJSON
	}
	if err := writeSecrets(eg, SecretsFile, secrets, 0o600); err != nil {
		return nil, err
	}
	if err := writePolicy(eg, gw, p); err != nil {
		return nil, err
	}
	certPEM, err := bottleCA(eg, identity, claim)
	if err != nil {
		return nil, err
	}
	bundle := append([]byte{}, certPEM...)
	for _, f := range hostRoots {
		if roots, err := os.ReadFile(f); err == nil {
			bundle = append(roots, certPEM...)
			break
		}
	}
	ag, err := beneath.Make(agentDir, 0o700)
	if err != nil {
		return nil, err
	}
	caFile, bundleFile := agent.CAFiles(agentDir)
	writeCA := ag.WriteFile
	if claim {
		// An agent made ahead mounts these files: the same content stays the same file.
		writeCA = func(name string, data []byte, perm fs.FileMode) error {
			if old, err := ag.ReadFile(name); err == nil && bytes.Equal(old, data) {
				return nil
			}
			return ag.WriteFile(name, data, perm)
		}
	}
	if err := writeCA(filepath.Base(caFile), certPEM, 0o644); err != nil {
		return nil, err
	}
	if err := writeCA(filepath.Base(bundleFile), bundle, 0o644); err != nil {
		return nil, err
	}
	for _, v := range secrets {
		secretValues = append(secretValues, v)
	}
	return secretValues, nil
}

// gatewayFolder is the gateway's own folder, made; nil for "" (the gateway
// then reads the egress folder's routes, as the bench runs it).
func gatewayFolder(dir string) (*beneath.Dir, error) {
	if dir == "" {
		return nil, nil
	}
	gw, err := beneath.Make(dir, 0o700)
	if err != nil {
		return nil, fmt.Errorf("prepare the gateway: %w", err)
	}
	return &gw, nil
}

// policyOf turns profile routes into the proxy's, resolving their secrets
// into secrets (named prefix-N) and copying their upstream CAs.
func policyOf(ctx context.Context, eg beneath.Dir, prefix string, routes []config.Route, secrets map[string]string) (Policy, error) {
	var p Policy
	for i, r := range routes {
		out := Route{Host: r.Host, Ports: r.PortList(), Methods: r.Methods, Paths: r.Paths, Intercept: r.Intercepts(), Upstream: r.Upstream,
			CredentialHosts: r.CredentialHosts, DLPOff: r.DLPOff, Inbound: r.Inbound, WebSocket: r.WebSocket, MCP: r.MCP, Signin: r.Signin, Calls: r.Calls}
		if r.UpstreamCA != "" {
			data, err := os.ReadFile(r.UpstreamCA)
			if err != nil {
				return p, fmt.Errorf("egress route %s: upstream_ca: %w", r.Host, err)
			}
			out.UpstreamCA = fmt.Sprintf("%s-ca-%d.pem", prefix, i)
			if err := eg.WriteFile(PolicyDir+"/"+out.UpstreamCA, data, 0o644); err != nil {
				return p, err
			}
		}
		if c := r.Credential; c != nil {
			v, err := resolveSecret(ctx, c)
			if err != nil {
				return p, fmt.Errorf("egress route %s: credential: %w", r.Host, err)
			}
			out.Header, out.Query, out.Value, out.Secret = c.Header, c.Query, c.Value, fmt.Sprintf("%s-%d", prefix, i)
			if out.Value == "" {
				out.Value = "{secret}"
			}
			secrets[out.Secret] = v
		}
		p.Routes = append(p.Routes, out)
	}
	return p, nil
}

// signinPolicy tells the gateway where a subscription login's refreshes go:
// the token route's endpoint (its upstream when rewritten), trusting its CA.
func signinPolicy(p *Policy, eg beneath.Dir, gw *beneath.Dir) error {
	for _, r := range p.Routes {
		if !isSigninToken(r.Signin) {
			continue
		}
		path := "/"
		if len(r.Paths) > 0 {
			path = r.Paths[0]
		}
		base := "https://" + r.Host
		if r.Upstream != "" {
			base = strings.TrimSuffix(r.Upstream, "/")
		}
		p.Signin = &SigninPolicy{Agent: signinAgent(r.Signin), TokenURL: base + path, TokenCA: r.UpstreamCA}
		if r.UpstreamCA != "" && gw != nil {
			data, err := eg.ReadFile(PolicyDir + "/" + r.UpstreamCA)
			if err != nil {
				return err
			}
			if err := gw.WriteFile(r.UpstreamCA, data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// The routes kept aside in the gateway's folder while a build runs.
const (
	buildRoutesFile = "build-routes.json"
	agentRoutesFile = "agent-routes.json"
)

// BuildRoutes gives the proxy and the gateway the build's routes (the
// user's build_egress) in place of the agent's; the returned function puts
// the agent's back. Nothing but a build is in the pod meanwhile.
func BuildRoutes(dir, gatewayDir string) (restore func() error, err error) {
	eg, gw := beneath.At(dir), beneath.At(gatewayDir)
	use := func(name string) error {
		data, err := gw.ReadFile(name)
		if err != nil {
			return fmt.Errorf("routes for the build: %w", err)
		}
		var p Policy
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("routes for the build: %w", err)
		}
		return writePolicy(eg, &gw, p)
	}
	if err := use(buildRoutesFile); err != nil {
		return nil, err
	}
	return func() error { return use(agentRoutesFile) }, nil
}

// AgentEnv is what points the agent's clients at the proxy and the CA.
func AgentEnv() map[string]string {
	proxy := "http://" + ProxyAddr
	noProxy := "localhost,127.0.0.1,::1"
	return map[string]string{
		"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy,
		"NO_PROXY": noProxy, "no_proxy": noProxy,
		"SSL_CERT_FILE": AgentBundle, "REQUESTS_CA_BUNDLE": AgentBundle, "CURL_CA_BUNDLE": AgentBundle,
		"GIT_SSL_CAINFO": AgentBundle, "NODE_EXTRA_CA_CERTS": AgentCA,
	}
}

func resolveSecret(ctx context.Context, c *config.Credential) (string, error) {
	var v string
	switch {
	case c.FromEnv != "":
		v = os.Getenv(c.FromEnv)
		if v == "" {
			return "", fmt.Errorf("from_env: %s is not set on the host", c.FromEnv)
		}
	case c.FromFile != "":
		b, err := os.ReadFile(c.FromFile)
		if err != nil {
			return "", fmt.Errorf("from_file: %w", err)
		}
		v = string(b)
	default:
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(cctx, c.FromCommand[0], c.FromCommand[1:]...).Output()
		if err != nil {
			return "", fmt.Errorf("from_command %s: %w", c.FromCommand[0], err)
		}
		v = string(out)
	}
	v = strings.TrimSpace(v)
	if v == "" || strings.ContainsAny(v, "\r\n") {
		return "", fmt.Errorf("the secret is empty or spans lines")
	}
	return v, nil
}

// writePolicy writes the routes for the gateway (its own copy, first) and
// for the proxy.
func writePolicy(eg beneath.Dir, gw *beneath.Dir, p Policy) error {
	if gw != nil {
		if err := writeJSON(*gw, RoutesFile, p, 0o644); err != nil {
			return err
		}
	}
	return writeJSON(eg, PolicyDir+"/"+RoutesFile, p, 0o644)
}

func writeJSON(d beneath.Dir, rel string, v any, perm os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", rel, err)
	}
	return d.WriteFile(rel, append(data, '\n'), perm)
}
