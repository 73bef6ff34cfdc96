// Package egress is the bottle's only way out: a proxy in the pod that
// allowlists, intercepts TLS, injects credentials and scans for secrets, and
// a gateway outside the pod that is the proxy's only path to the network.
package egress

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// Files in the egress state folder.
const (
	PolicyDir   = "policy"       // routes and upstream CAs, no secrets: also mounted into the gateway
	RoutesFile  = "routes.json"  // in PolicyDir
	SecretsFile = "secrets.json" // credential values, mode 0600
	CAFile      = "ca.pem"
	CAKeyFile   = "ca.key" // exists only here
	AuditFile   = "audit.jsonl"
	ReadyFile   = "ready"
	SocketDir   = "gateway" // holds the gateway's socket; the only folder the gateway shares
	SocketName  = "gateway.sock"
)

// Route is a route as the proxy and gateway read it from RoutesFile.
type Route struct {
	Host      string   `json:"host"`
	Ports     []int    `json:"ports"`
	Methods   []string `json:"methods,omitempty"`
	Paths     []string `json:"paths,omitempty"`
	Intercept bool     `json:"intercept"`
	// Upstream rewrites where requests really go (scheme://host:port).
	Upstream string `json:"upstream,omitempty"`
	// UpstreamCA is a file in the egress folder with extra roots for the upstream.
	UpstreamCA string `json:"upstream_ca,omitempty"`
	// Header and Value are set on every request; Value holds {secret}, whose
	// value is SecretsFile[Secret].
	Header string `json:"header,omitempty"`
	Value  string `json:"value,omitempty"`
	Secret string `json:"secret,omitempty"`
	// Query, instead of Header, is the URL query parameter set to Value.
	Query string `json:"query,omitempty"`
	// CredentialHosts, on a wildcard route, are the only hosts the
	// credential is sent to.
	CredentialHosts []string `json:"credential_hosts,omitempty"`
	// DLPOff are DLP detectors turned off for this route (dlp.Rules).
	DLPOff []string `json:"dlp_off,omitempty"`
	// Inbound is what is done with instructions aimed at the agent in this
	// route's responses (config.InboundModes; "": auto).
	Inbound string `json:"inbound,omitempty"`
	// WebSocket lets the agent upgrade to a WebSocket, whose messages are
	// then scanned both ways.
	WebSocket bool `json:"websocket,omitempty"`
	// MCP is the tool policy of the MCP server behind this route (nil: any
	// tool, commands refused).
	MCP *config.MCPTools `json:"mcp,omitempty"`
	// Signin marks the routes of a subscription login: "claude" (the API,
	// where the access token goes), "claude-token" (the token endpoint).
	Signin string `json:"signin,omitempty"`
	// Calls, on a sign-in's routes, are the only requests the route
	// carries: "METHOD /path", exact, or "METHOD /path/*" for any path
	// below it; every other request to the host is refused.
	Calls []string `json:"calls,omitempty"`
}

// Policy is the parsed routes file.
type Policy struct {
	Routes []Route `json:"routes"`
	// Git are host:port pairs only the git gate asks for (its upstreams):
	// the gateway allows them, the proxy never matches them.
	Git []string `json:"git,omitempty"`
	// GitNamed are those of Git whose address the person's own config
	// names (a remote's url there): only they may reach this machine or its
	// network. A remote only a repository names meets the special-range
	// refusal like any other host.
	GitNamed []string `json:"git_named,omitempty"`
	// Signin is an agent's subscription login the gateway keeps fresh on
	// the host's side (nil: none).
	Signin *SigninPolicy `json:"signin,omitempty"`
}

// SigninPolicy is where the gateway finds a login and refreshes it.
type SigninPolicy struct {
	Agent    string `json:"agent"`
	TokenURL string `json:"token_url"`
	// TokenCA is a file beside the routes with extra roots for TokenURL.
	TokenCA string `json:"token_ca,omitempty"`
}

// SigninFile is where the gateway's container has the host's credentials file.
const SigninFile = "/run/bottle/signin/credentials.json"

// Match finds the route for host and port, or nil: default deny.
func (p *Policy) Match(host string, port int) *Route {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for i := range p.Routes {
		r := &p.Routes[i]
		if hostMatches(r.Host, host) && slices.Contains(r.Ports, port) {
			return r
		}
	}
	return nil
}

func hostMatches(pattern, host string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+suffix)
	}
	return pattern == host
}

// Allows reports whether the route admits this method and the URL's path,
// and if not, why. On a route that limits paths, the path is matched
// normalized (dot segments removed, repeated slashes folded) and u is left
// holding that normalized path, which is what the upstream gets; a path
// whose meaning depends on who decodes it (an encoded dot, slash, backslash
// or percent, a backslash, a ;parameter) is refused rather than guessed at.
func (r *Route) Allows(method string, u *url.URL) (bool, string) {
	if len(r.Calls) > 0 {
		return r.allowsCall(method, u)
	}
	if len(r.Methods) > 0 && !slices.Contains(r.Methods, method) {
		return false, fmt.Sprintf("method %s is not allowed for %s", method, r.Host)
	}
	if len(r.Paths) == 0 {
		return true, ""
	}
	if ambiguousPath(u.EscapedPath()) {
		return false, fmt.Sprintf("the path %q is ambiguous (encoded dots, slashes or backslashes, or ;parameters) and %s allows only some paths", u.EscapedPath(), r.Host)
	}
	clean := normalizePath(u.Path)
	if !slices.ContainsFunc(r.Paths, func(p string) bool { return strings.HasPrefix(clean, p) }) {
		return false, fmt.Sprintf("path %s is not allowed for %s", clean, r.Host)
	}
	u.Path, u.RawPath = clean, ""
	return true, ""
}

// allowsCall is Allows on a sign-in's route: the request must be one of
// its calls, matched on the normalized path (a trailing slash, or a dot
// segment that leaves one, is another path).
func (r *Route) allowsCall(method string, u *url.URL) (bool, string) {
	refuse := func(path string) (bool, string) {
		return false, fmt.Sprintf("%s %s on %s is refused: this host carries the person's sign-in, and only for the calls the agent's own CLI makes there", method, path, r.Host)
	}
	if ambiguousPath(u.EscapedPath()) {
		return refuse(u.EscapedPath())
	}
	clean := normalizePath(u.Path)
	if !slices.ContainsFunc(r.Calls, func(c string) bool { return callMatches(c, method, clean) }) {
		return refuse(clean)
	}
	u.Path, u.RawPath = clean, ""
	return true, ""
}

// methodOverrides are headers that frontends (Google's among them) honour
// in place of a request's method.
var methodOverrides = []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}

// Overridden says why a request to a sign-in's route is refused for a
// header that would make it another call than its method says, or "".
func (r *Route) Overridden(h http.Header) string {
	if len(r.Calls) == 0 {
		return ""
	}
	for _, name := range methodOverrides {
		if len(h.Values(name)) > 0 {
			return fmt.Sprintf("%s on %s is refused: this host carries the person's sign-in, and only for the calls the agent's own CLI makes there, as their methods say", name, r.Host)
		}
	}
	return ""
}

// callMatches reports whether a request is the call c ("METHOD /path", or
// "METHOD /path/*": any path below it).
func callMatches(c, method, path string) bool {
	m, p, _ := strings.Cut(c, " ")
	if m != method {
		return false
	}
	if below, ok := strings.CutSuffix(p, "*"); ok {
		return len(path) > len(below) && strings.HasPrefix(path, below)
	}
	return path == p
}

func ambiguousPath(escaped string) bool {
	lower := strings.ToLower(escaped)
	for _, bad := range []string{"%2e", "%2f", "%5c", "%25", "\\", ";"} {
		if strings.Contains(lower, bad) {
			return true
		}
	}
	return false
}

// normalizePath removes dot segments (RFC 3986, 5.2.4) and folds repeated
// slashes, keeping a trailing slash.
func normalizePath(p string) string {
	var out []string
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		switch seg {
		case ".", "..":
			if seg == ".." && len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		case "":
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/")
}

// SendsCredentialTo reports whether the route's credential goes to host:
// on a wildcard route, only to the hosts it lists.
func (r *Route) SendsCredentialTo(host string) bool {
	if !strings.HasPrefix(r.Host, "*.") {
		return true
	}
	return slices.Contains(r.CredentialHosts, strings.ToLower(strings.TrimSuffix(host, ".")))
}

// OverTLS reports whether a request that came with this scheme reaches the
// upstream over TLS, or over plain HTTP to a loopback upstream (tests,
// local mirrors): the only ways a credential is sent.
func (r *Route) OverTLS(scheme string) bool {
	if r.Upstream == "" {
		return scheme == "https"
	}
	u, err := url.Parse(r.Upstream)
	if err != nil {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return u.Hostname() == "localhost" || ip != nil && ip.IsLoopback()
}

// Destination is where a route's connections really go: the upstream if
// rewritten, else host:port. explicit says the route names that address
// itself, which lets it reach loopback or private ranges.
func (r *Route) Destination(host string, port int) (addr string, explicit bool) {
	if r.Upstream != "" {
		u, err := url.Parse(r.Upstream)
		if err == nil {
			h, p := u.Hostname(), u.Port()
			if p == "" {
				p = map[string]string{"http": "80", "https": "443"}[u.Scheme]
			}
			return net.JoinHostPort(h, p), true
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), net.ParseIP(host) != nil
}

// policyFile reads a routes file and reloads it when it changes, so routes
// approved while the bottle runs take effect without a restart. Every
// request looks at the file (one stat, no lock held: requests do not wait
// on each other); only a change takes the lock and reads it.
type policyFile struct {
	path string
	mu   sync.Mutex
	cur  atomic.Pointer[policySeen]
}

// policySeen is a policy with the file's state it was read from.
type policySeen struct {
	p    *Policy
	mod  time.Time
	size int64
}

func (s *policySeen) current(fi os.FileInfo) bool {
	return s != nil && fi.ModTime().Equal(s.mod) && fi.Size() == s.size
}

func (f *policyFile) get() (*Policy, error) {
	fi, err := os.Stat(f.path)
	seen := f.cur.Load()
	if err != nil {
		if seen != nil {
			return seen.p, nil
		}
		return nil, err
	}
	if seen.current(fi) {
		return seen.p, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if seen = f.cur.Load(); seen.current(fi) { // read while this one waited
		return seen.p, nil
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, err
	}
	var p Policy
	if err := json.Unmarshal(data, &p); err != nil {
		if seen != nil {
			return seen.p, nil // a half-edited file: keep the last good policy
		}
		return nil, fmt.Errorf("read %s: %w", f.path, err)
	}
	f.cur.Store(&policySeen{&p, fi.ModTime(), fi.Size()})
	return &p, nil
}

// AddRoute appends a route to a bottle's routes, for the gateway (its own
// copy in gatewayDir, which is what is read and widened) and the proxy (the
// egress folder dir), atomically; both pick it up without a restart.
func AddRoute(dir, gatewayDir string, r Route) error {
	eg, gw := beneath.At(dir), beneath.At(gatewayDir)
	data, err := gw.ReadFile(RoutesFile)
	if err != nil {
		return fmt.Errorf("read routes: %w", err)
	}
	var p Policy
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("read routes %s: %w", gw.Path(), err)
	}
	p.Routes = append(p.Routes, r)
	return writePolicy(eg, &gw, p)
}
