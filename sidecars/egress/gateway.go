package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bottle-sandbox/bottle/internal/netrange"
	"github.com/bottle-sandbox/bottle/internal/signin"
)

// Gateway runs outside the pod, on the host's network, and is the proxy's
// only way out. It enforces the allowlist again (the proxy's decisions are
// not trusted alone), resolves names itself, and refuses loopback, private
// and link-local addresses unless the person's config names that address
// (a route, a git remote's url).
type Gateway struct {
	dir    string // the gateway's view of the egress folder
	policy *policyFile
	lookup func(ctx context.Context, host string) ([]net.IPAddr, error)
	// signinFile is the host's credentials file of a subscription login.
	signinFile string
	// refreshes spaces this bottle's refreshes of the login.
	refreshes *signin.Limit
}

// NewGateway reads the routes under dir. The routes it reads are its own
// copy, written by the host into a folder only the gateway mounts: nothing
// in the pod (the proxy, the supervise server) can widen what it allows.
func NewGateway(dir string) (*Gateway, error) {
	g := &Gateway{dir: dir, policy: &policyFile{path: filepath.Join(dir, PolicyDir, RoutesFile)}, lookup: net.DefaultResolver.LookupIPAddr, signinFile: SigninFile,
		refreshes: &signin.Limit{Every: time.Minute}}
	if _, err := g.policy.get(); err != nil {
		return nil, err
	}
	return g, nil
}

// Serve listens on the socket until ctx ends. The pass socket listens
// first: the proxy, which starts once the socket takes a connection, may
// hand over a tunnel's client at once.
func (g *Gateway) Serve(ctx context.Context) error {
	pass, err := g.listenPass()
	if err != nil {
		return err
	}
	sock := filepath.Join(g.dir, SocketDir, SocketName)
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		pass.Close()
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	// The group is the pod's: on a cluster the proxy is another user of
	// it. The folder is mounted by the gateway and the proxy alone.
	os.Chmod(sock, 0o660)
	srv := &http.Server{Handler: http.HandlerFunc(g.handle), ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	passErr := make(chan error, 1)
	go func() { passErr <- g.servePass(ctx, pass) }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-passErr
}

func (g *Gateway) handle(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/signin/") {
		g.signin(w, r)
		return
	}
	if r.Method != http.MethodConnect {
		http.Error(w, "the gateway only tunnels", http.StatusMethodNotAllowed)
		return
	}
	conn, err := g.dial(r.Context(), r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		conn.Close()
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		conn.Close()
		return
	}
	client.Write([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	if buf.Reader.Buffered() > 0 {
		io.CopyN(conn, buf, int64(buf.Reader.Buffered()))
	}
	splice(client, conn)
}

// dial connects to addr if a route allows it.
func (g *Gateway) dial(ctx context.Context, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("bad address %q", addr)
	}
	port, _ := strconv.Atoi(portStr)
	pol, err := g.policy.get()
	if err != nil {
		return nil, err
	}
	explicit, ok := allowedDestination(pol, host, port)
	if !ok {
		return nil, fmt.Errorf("%s is not an allowed destination", addr)
	}
	ips, err := g.lookup(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	d := net.Dialer{Timeout: 15 * time.Second}
	var last error = fmt.Errorf("%s resolves to no address", host)
	for _, ip := range ips {
		if why, special := internal(ip.IP); special && !explicit {
			last = fmt.Errorf("%s resolves to %s (%s), which reaches this machine or its network, and no route names that address", host, ip.IP, why)
			continue
		}
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.IP.String(), portStr))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// allowedDestination reports whether some route or git upstream leads to
// host:port, and whether the person's config names that address itself
// (a route's upstream rewrite or IP literal, a git remote's url there): a
// git upstream only a repository names is not explicit.
func allowedDestination(p *Policy, host string, port int) (explicit, ok bool) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	named := slices.Contains(p.GitNamed, addr)
	ok = named || slices.Contains(p.Git, addr)
	for i := range p.Routes {
		r := &p.Routes[i]
		if r.Upstream != "" {
			if dest, _ := r.Destination("", 0); dest == addr {
				return true, true
			}
			continue
		}
		if hostMatches(r.Host, host) && slices.Contains(r.Ports, port) {
			return named || net.ParseIP(host) != nil, true
		}
	}
	return named, ok
}

// internal reports whether ip is in one of the IANA special-purpose ranges
// (loopback, private, shared, link-local, documentation, benchmarking,
// multicast, reserved, and their IPv6 forms), and which.
func internal(ip net.IP) (string, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return "not an address", true
	}
	return netrange.Special(a)
}

// splice copies both ways until both sides are done.
func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}

// signin answers the proxy for a subscription login: /signin/access, a
// fresh access token; /signin/refresh, a refresh the agent asked for
// (answered from the held token unless it is near its expiry; made as the
// agent's CLI makes it, whatever the agent sent). The tokens never go
// further into the pod than the proxy, and the refresh token not even
// there.
func (g *Gateway) signin(w http.ResponseWriter, r *http.Request) {
	pol, err := g.policy.get()
	if err != nil || pol.Signin == nil || r.Method != http.MethodPost {
		http.Error(w, "no sign-in here", http.StatusNotFound)
		return
	}
	ref := g.refresher(pol)
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/signin/access":
		token, exp, err := ref.Access(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": token, "expires_at": exp.UnixMilli()})
	case "/signin/refresh":
		res, err := ref.Refresh(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		json.NewEncoder(w).Encode(res)
	default:
		http.Error(w, "no such sign-in call", http.StatusNotFound)
	}
}

// refresher is the login's refresher: its HTTP client dials through the
// gateway's own checks and trusts the host's roots and the token CA.
func (g *Gateway) refresher(pol *Policy) *signin.Refresher {
	roots, _ := x509.SystemCertPool()
	if roots == nil {
		roots = x509.NewCertPool()
	}
	if pol.Signin.TokenCA != "" {
		if pem, err := os.ReadFile(filepath.Join(g.dir, PolicyDir, pol.Signin.TokenCA)); err == nil {
			roots.AppendCertsFromPEM(pem)
		}
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:     func(ctx context.Context, _, addr string) (net.Conn, error) { return g.dial(ctx, addr) },
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	return &signin.Refresher{File: g.signinFile, Login: signin.Logins[pol.Signin.Agent], TokenURL: pol.Signin.TokenURL, Client: client, Limit: g.refreshes}
}

// ReachGateway waits for the gateway's socket below dir to take a
// connection: the proxy starts only once it can. A socket not there yet is
// a gateway not started yet, waited for until ctx ends (under load its
// container starts later than the proxy's; the launcher bounds the start
// and names what was not ready). A socket there that takes no connection
// for within is a gateway that does not serve it: the error says so, how
// long and what the last try got. Where the two share the socket's folder
// only by gVisor's mount hints (hinted, on Kubernetes), a socket that is
// there and refuses is more likely a folder the two do not share: a
// cluster that drops the hints shows the socket to the gateway alone, and
// the error says how to fix that too.
func ReachGateway(ctx context.Context, dir string, within time.Duration, hinted bool) error {
	sock := filepath.Join(dir, SocketDir, SocketName)
	start := time.Now()
	var refused time.Time // since when the socket is there and refuses
	for {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			refused = time.Time{}
		case refused.IsZero():
			refused = time.Now()
		case time.Since(refused) > within:
			why := fmt.Errorf("the gateway did not take a connection on its socket %s within %s of the socket being there (the last try: %v)", sock, within, err)
			if hinted {
				why = fmt.Errorf("%w: if the gateway runs, it and the proxy do not share the socket's folder (under gVisor they share it by mount hint: containerd's runsc runtime needs pod_annotations = [\"dev.gvisor.*\"])", why)
			}
			return why
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the gateway has not started: its socket %s is not there after %s", sock, time.Since(start).Round(time.Second))
		case <-time.After(reachEvery(time.Since(start))):
		}
	}
}

// reachEvery is how long the proxy waits before it tries the gateway's
// socket again, after since of trying. Every start of a bottle waits for
// the proxy, and the proxy for the gateway, which starts beside it and is
// ready a moment later: tried every 100 ms, the proxy took a connection
// 80 to 120 ms after the gateway's socket was there (a cold start's
// --debug: socket made, then the proxy's ready file 117 ms later). A try
// at a socket not there costs a failed connect: often at first, less
// often once the gateway is slow (under load, or not started).
func reachEvery(since time.Duration) time.Duration {
	if since < 2*time.Second {
		return 5 * time.Millisecond
	}
	return 50 * time.Millisecond
}
