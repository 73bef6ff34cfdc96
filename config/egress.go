package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/dlp"
)

// Route is one egress rule: where the agent may go, how, and what the proxy
// adds on the way.
type Route struct {
	Host       string      `json:"host" toml:"host,omitempty"`
	Ports      []int       `json:"ports,omitempty" toml:"ports,omitempty"`
	Methods    []string    `json:"methods,omitempty" toml:"methods,omitempty"`
	Paths      []string    `json:"paths,omitempty" toml:"paths,omitempty"`
	Intercept  *bool       `json:"intercept,omitempty" toml:"intercept,omitempty"`
	Upstream   string      `json:"upstream,omitempty" toml:"upstream,omitempty"`
	UpstreamCA string      `json:"upstream_ca,omitempty" toml:"upstream_ca,omitempty" bottle:"path"`
	Credential *Credential `json:"credential,omitempty" toml:"credential,omitempty"`
	// CredentialHosts are, on a wildcard route, the only hosts the
	// credential is sent to (required there).
	CredentialHosts []string `json:"credential_hosts,omitempty" toml:"credential_hosts,omitempty"`
	// DLPOff turns DLP detectors off for this route, such as payment-card
	// for a payment API.
	DLPOff []string `json:"dlp_off,omitempty" toml:"dlp_off,omitempty"`
	// Inbound overrides the profile's inbound for this route's responses.
	Inbound string `json:"inbound,omitempty" toml:"inbound,omitempty"`
	// WebSocket allows upgrades to WebSockets, whose messages the proxy
	// scans both ways (they are refused otherwise).
	WebSocket bool `json:"websocket,omitempty" toml:"websocket,omitempty"`
	// MCP is the tool policy for the MCP server behind this route.
	MCP *MCPTools `json:"mcp,omitempty" toml:"mcp,omitempty"`
	// Signin is set by a launch, never in a file: the route carries an
	// agent's subscription login ("claude") or is its token endpoint
	// ("claude-token").
	Signin string `json:"signin,omitempty" toml:"-"`
	// Calls is set by a launch, never in a file: on a sign-in's routes,
	// the only requests the route carries ("POST /v1/messages"; a path
	// ending in /* is any path below it), every other one refused.
	Calls []string `json:"calls,omitempty" toml:"-"`
}

// MCPTools is what an MCP server's tools may be called for: by name
// (globs such as read_*; deny wins over allow, and no allow list allows
// every name), and whether a call's arguments may carry a command piped
// into a shell or decoded before it runs (refused unless allow_commands:
// a server outside the bottle that runs commands would be a way around it).
type MCPTools struct {
	Allow         []string `json:"allow,omitempty" toml:"allow,omitempty"`
	Deny          []string `json:"deny,omitempty" toml:"deny,omitempty"`
	AllowCommands bool     `json:"allow_commands,omitempty" toml:"allow_commands,omitempty"`
}

// Signin says whose sign-in a profile uses, and which form.
type Signin struct {
	Agent string `json:"agent" toml:"agent"`
	// Use is auto (the first the host has of api-key, token,
	// credentials), or one of them.
	Use string `json:"use,omitempty" toml:"use,omitempty"`
}

// SigninAgents and SigninUses are what a signin table may say.
var (
	SigninAgents = []string{"claude", "codex", "gemini"}
	SigninUses   = []string{"auto", "api-key", "token", "credentials"}
)

// The inbound modes, from the least strict: off (not scanned), log (audit
// only), mark (delivered with a warning the agent sees), auto (block what
// was hidden, mark the rest: the default), block (a plain explanation in
// place of the content).
const (
	InboundOff   = "off"
	InboundLog   = "log"
	InboundMark  = "mark"
	InboundAuto  = "auto"
	InboundBlock = "block"
)

// InboundModes are the modes, from the least strict.
var InboundModes = []string{InboundOff, InboundLog, InboundMark, InboundAuto, InboundBlock}

// EgressRoutes are the profile's routes as the proxy takes them: each with
// its inbound mode, the profile's where the route sets none.
func (p *Profile) EgressRoutes() []Route {
	routes := slices.Clone(p.Egress)
	for i := range routes {
		if routes[i].Inbound == "" {
			routes[i].Inbound = orAuto(p.Inbound)
		}
	}
	return routes
}

// inboundRank orders the modes by strictness; "" is the default, auto.
func inboundRank(m string) int {
	if m == "" {
		m = InboundAuto
	}
	return slices.Index(InboundModes, m)
}

func validInbound(m string) bool { return m == "" || slices.Contains(InboundModes, m) }

// Credential is a secret the proxy sets in a header; the agent never holds it.
type Credential struct {
	Header string `json:"header,omitempty" toml:"header,omitempty"`
	// Query names a URL query parameter to carry the secret instead of a
	// header (key=..., as some APIs take it).
	Query       string   `json:"query,omitempty" toml:"query,omitempty"`
	Value       string   `json:"value,omitempty" toml:"value,omitempty"`
	FromEnv     string   `json:"from_env,omitempty" toml:"from_env,omitempty"`
	FromFile    string   `json:"from_file,omitempty" toml:"from_file,omitempty" bottle:"path"`
	FromCommand []string `json:"from_command,omitempty" toml:"from_command,omitempty"`
	AgentEnv    string   `json:"agent_env,omitempty" toml:"agent_env,omitempty"`
}

// Carrier is where the secret goes: a header's name, or "?name" for a
// query parameter.
func (c *Credential) Carrier() string {
	if c.Query != "" {
		return "?" + c.Query
	}
	return c.Header
}

// Source says where the secret comes from, never what it is.
func (c *Credential) Source() string {
	switch {
	case c.FromFile != "":
		return "file " + c.FromFile
	case len(c.FromCommand) > 0:
		return "command " + c.FromCommand[0]
	default:
		return "env " + c.FromEnv
	}
}

// DefaultPorts are a route's ports when it names none.
var DefaultPorts = []int{80, 443}

// Intercepts reports whether the proxy terminates TLS for this route.
func (r Route) Intercepts() bool { return r.Intercept == nil || *r.Intercept }

// PortList is the route's ports, or the defaults.
func (r Route) PortList() []int {
	if len(r.Ports) == 0 {
		return DefaultPorts
	}
	return r.Ports
}

func validateRoute(list string, i int, r Route, at func(key, msg string) error) error {
	key := fmt.Sprintf("%s[%d]", list, i)
	bad := func(msg string, args ...any) error {
		return at(list, fmt.Sprintf("%s: %s", key, fmt.Sprintf(msg, args...)))
	}
	h := r.Host
	switch {
	case h == "":
		return bad("host is required")
	case strings.HasPrefix(h, "*."):
		h = h[2:]
	}
	if h == "" || strings.ContainsAny(h, "*/:@ ") || strings.ToLower(h) != h {
		return bad("host %q must be a lower-case host name, or *.suffix", r.Host)
	}
	for _, p := range r.Ports {
		if p < 1 || p > 65535 {
			return bad("port %d is out of range", p)
		}
	}
	for _, m := range r.Methods {
		if m == "" || strings.ToUpper(m) != m {
			return bad("method %q must be upper case, such as GET", m)
		}
	}
	for _, p := range r.Paths {
		if !strings.HasPrefix(p, "/") {
			return bad("path %q must start with /", p)
		}
	}
	if r.Upstream != "" {
		u, err := url.Parse(r.Upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return bad("upstream %q must be scheme://host[:port], such as https://mirror.example.com", r.Upstream)
		}
		if _, _, err := net.SplitHostPort(u.Host); err != nil && strings.Contains(u.Host, ":") && !strings.HasPrefix(u.Host, "[") {
			return bad("upstream %q has a bad host", r.Upstream)
		}
	}
	if r.UpstreamCA != "" && r.Upstream == "" {
		return bad("upstream_ca needs an upstream")
	}
	if c := r.Credential; c != nil {
		if !r.Intercepts() {
			return bad("a credential needs intercept = true: a tunnel cannot set headers")
		}
		switch {
		case c.Header != "" && c.Query != "":
			return bad("credential sets both header and query: the secret goes in one")
		case c.Query != "":
			if strings.ContainsAny(c.Query, " =&?#%\r\n") {
				return bad("credential.query %q must be a query parameter's name, such as key", c.Query)
			}
		case c.Header == "" || strings.ContainsAny(c.Header, " :\r\n"):
			return bad("credential.header %q must be a header name, such as x-api-key", c.Header)
		}
		sources := 0
		for _, set := range []bool{c.FromEnv != "", c.FromFile != "", len(c.FromCommand) > 0} {
			if set {
				sources++
			}
		}
		if sources != 1 {
			return bad("credential needs exactly one of from_env, from_file, from_command")
		}
		if c.Value != "" && !strings.Contains(c.Value, "{secret}") {
			return bad("credential.value %q must contain {secret}", c.Value)
		}
		if c.AgentEnv != "" && !envName.MatchString(c.AgentEnv) {
			return bad("credential.agent_env %q is not a variable name", c.AgentEnv)
		}
		if u, err := url.Parse(r.Upstream); r.Upstream != "" && err == nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			return bad("a credential is only sent over TLS: upstream %q must be https://, or http:// to a loopback address", r.Upstream)
		}
		if suffix, ok := strings.CutPrefix(r.Host, "*."); ok {
			if len(r.CredentialHosts) == 0 {
				return bad("a credential on a wildcard route needs credential_hosts, the hosts under %s it is sent to", r.Host)
			}
			for _, ch := range r.CredentialHosts {
				if !strings.HasSuffix(ch, "."+suffix) || strings.ToLower(ch) != ch || strings.ContainsAny(ch, "*/:@ ") {
					return bad("credential_hosts entry %q must be a lower-case host under %s", ch, r.Host)
				}
			}
		}
	}
	if len(r.CredentialHosts) > 0 && (r.Credential == nil || !strings.HasPrefix(r.Host, "*.")) {
		return bad("credential_hosts is only for a wildcard route with a credential")
	}
	if r.WebSocket && !r.Intercepts() {
		return bad("websocket = true needs intercept = true: a tunnel's messages cannot be scanned")
	}
	if m := r.MCP; m != nil {
		if !r.Intercepts() {
			return bad("an mcp tool policy needs intercept = true: a tunnel's calls cannot be read")
		}
		for _, name := range append(slices.Clone(m.Allow), m.Deny...) {
			if _, err := path.Match(name, ""); err != nil || name == "" || strings.ContainsAny(name, " \t\r\n") {
				return bad("mcp tool %q must be a tool's name, or a glob such as read_*", name)
			}
		}
	}
	if !validInbound(r.Inbound) {
		return bad("inbound %q is not a mode (use %s)", r.Inbound, strings.Join(InboundModes, ", "))
	}
	for _, d := range r.DLPOff {
		if !slices.Contains(dlp.Rules(), d) {
			return bad("dlp_off %q is not a detector; they are %s", d, strings.Join(dlp.Rules(), ", "))
		}
	}
	return nil
}

func loopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

// routeGranted reports whether r is one of the trusted routes, exactly.
func routeGranted(r Route, trusted []Route) bool {
	return slices.ContainsFunc(trusted, func(t Route) bool { return reflect.DeepEqual(r, t) })
}
