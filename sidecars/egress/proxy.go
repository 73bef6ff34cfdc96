package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bottle-sandbox/bottle/internal/dlp"
	"github.com/bottle-sandbox/bottle/internal/gateway"
	"github.com/elazarl/goproxy"
)

// maxScan is how much of a request body is scanned; a larger body is refused,
// so nothing leaves unscanned.
const maxScan = 16 << 20

// Proxy is the egress sidecar: it decides, per request, what may leave.
type Proxy struct {
	dir     string
	policy  *policyFile
	secrets map[string]string
	scanner *dlp.Scanner
	audit   *auditLog
	ca      tls.Certificate
	split   splitWatch

	mu         sync.Mutex
	transports map[string]*http.Transport // by route host
}

// NewProxy loads the egress state folder.
func NewProxy(dir string) (*Proxy, error) {
	p := &Proxy{dir: dir, policy: &policyFile{path: filepath.Join(dir, PolicyDir, RoutesFile)}, transports: map[string]*http.Transport{}}
	if _, err := p.policy.get(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, SecretsFile))
	if err != nil {
		return nil, fmt.Errorf("read secrets: %w", err)
	}
	if err := json.Unmarshal(data, &p.secrets); err != nil {
		return nil, fmt.Errorf("read secrets: %w", err)
	}
	values := make([]string, 0, len(p.secrets))
	for _, v := range p.secrets {
		values = append(values, v)
	}
	p.scanner = dlp.New(values)
	p.ca, err = tls.LoadX509KeyPair(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load the bottle's CA: %w", err)
	}
	if p.audit, err = openAudit(filepath.Join(dir, AuditFile)); err != nil {
		return nil, err
	}
	return p, nil
}

// Serve listens on addr until ctx ends.
func (p *Proxy) Serve(ctx context.Context, addr string) error {
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = quietLogger{}
	gp.CertStore = newCertStore()
	mitm := &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: goproxy.TLSConfigFromCA(&p.ca)}
	gp.OnRequest().HandleConnectFunc(func(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		h, port := splitHostPort(host, 443)
		route := p.match(h, port)
		if route == nil {
			p.audit.log(entry{Method: "CONNECT", Host: host, Decision: "deny", Reason: "host not allowed"})
			return goproxy.RejectConnect, host
		}
		if route.Intercept {
			return mitm, host
		}
		p.audit.log(entry{Method: "CONNECT", Host: host, Route: route.Host, Decision: "allow", Reason: "tunnel"})
		dest, _ := route.Destination(h, port)
		return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: func(_ *http.Request, client net.Conn, _ *goproxy.ProxyCtx) {
			p.tunnel(client, dest)
		}}, dest
	})
	gp.OnRequest().DoFunc(p.filter)
	gp.OnResponse().DoFunc(func(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
		if e, ok := ctx.UserData.(*entry); ok && e != nil {
			if resp != nil {
				e.Status = resp.StatusCode
			}
			p.audit.log(*e)
		}
		return resp
	})
	gp.Tr = p.transport(nil)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: gp, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := os.WriteFile(filepath.Join(p.dir, ReadyFile), []byte(addr+"\n"), 0o644); err != nil {
		return err
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tunnel hands a tunnel route's client over to the gateway, which carries
// the bytes from then on without the proxy in the way.
func (p *Proxy) tunnel(client net.Conn, dest string) {
	defer client.Close()
	tc, ok := client.(*net.TCPConn)
	if !ok {
		client.Write([]byte("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"))
		return
	}
	if err := handOff(context.Background(), filepath.Join(p.dir, SocketDir, PassSocketName), tc, dest); err != nil {
		p.audit.log(entry{Method: "CONNECT", Host: dest, Decision: "deny", Reason: "gateway: " + err.Error()})
	}
}

func (p *Proxy) match(host string, port int) *Route {
	pol, err := p.policy.get()
	if err != nil {
		return nil
	}
	return pol.Match(host, port)
}

// filter decides on one HTTP request (plain, or inside an intercepted TLS
// connection): route, method and path, secrets; then injects the credential
// and points the request at its upstream.
func (p *Proxy) filter(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	defPort := 80
	if r.URL.Scheme == "https" {
		defPort = 443
	}
	host, port := splitHostPort(r.URL.Host, defPort)
	e := &entry{Method: r.Method, Host: host, Path: r.URL.Path}
	deny := func(reason string) (*http.Request, *http.Response) {
		e.Decision, e.Reason, e.Status = "deny", reason, http.StatusForbidden
		p.audit.log(*e)
		ctx.UserData = nil
		return r, blocked(r, reason)
	}
	route := p.match(host, port)
	if route == nil {
		return deny("host not allowed: " + host)
	}
	e.Route = route.Host
	if ok, why := route.Allows(r.Method, r.URL.Path); !ok {
		return deny(why)
	}
	if route.Header != "" {
		r.Header.Del(route.Header) // whatever the agent sent there, it is not the credential
	}
	if f := p.scanRequest(r); f != nil {
		return deny(fmt.Sprintf("the request carries a secret (%s in %s)", describe(f), f.Where))
	}
	if route.Header != "" {
		r.Header.Set(route.Header, strings.ReplaceAll(route.Value, "{secret}", p.secrets[route.Secret]))
	}
	if route.Upstream != "" {
		u, _ := url.Parse(route.Upstream)
		r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, u.Host
	}
	ctx.RoundTripper = goproxy.RoundTripperFunc(func(req *http.Request, _ *goproxy.ProxyCtx) (*http.Response, error) {
		return p.transport(route).RoundTrip(req)
	})
	e.Decision, e.Reason = "allow", "route "+route.Host
	e.Bytes = r.ContentLength
	ctx.UserData = e
	return r, nil
}

// scanRequest looks for secrets in the URL, the headers and the body, and
// in what this request's payload makes together with the previous one's.
func (p *Proxy) scanRequest(r *http.Request) *dlp.Finding {
	if f := p.scanner.ScanURL(r.URL.String()); f != nil {
		return f
	}
	for name, vals := range r.Header {
		for _, v := range vals {
			if f := p.scanner.Scan([]byte(v), "header "+strings.ToLower(name)); f != nil {
				return f
			}
		}
	}
	var payload []byte
	for _, vals := range r.URL.Query() {
		for _, v := range vals {
			payload = append(payload, v...)
		}
	}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxScan+1))
		r.Body.Close()
		if err != nil || len(body) > maxScan {
			return &dlp.Finding{Rule: "unscannable-body", Where: "body"}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		if f := p.scanner.Scan(body, "body"); f != nil {
			return f
		}
		payload = append(payload, body...)
	}
	return p.split.check(p.scanner, payload)
}

// splitWindow is how much of consecutive payloads is looked at together:
// enough for any key format, split anywhere.
const splitWindow = 256

// splitWatch catches a secret sent in two pieces: the end of the previous
// payload that left, joined to the start of this one.
type splitWatch struct {
	mu   sync.Mutex
	tail []byte
}

func (w *splitWatch) check(s *dlp.Scanner, payload []byte) *dlp.Finding {
	if len(payload) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	joined := append(append([]byte{}, w.tail...), payload[:min(len(payload), splitWindow)]...)
	if f := s.Scan(joined, "body"); f != nil && len(w.tail) > 0 {
		f.Where = "this request and the one before it (a secret split in two)"
		return f
	}
	w.tail = append(w.tail[:0], payload[max(0, len(payload)-splitWindow):]...)
	return nil
}

func describe(f *dlp.Finding) string {
	if f.Encoding == "" {
		return f.Rule
	}
	return f.Rule + ", " + f.Encoding + "-encoded"
}

// blocked is the 403 the agent sees: plain about what happened, so it does
// not retry around it, and never echoing the secret.
func blocked(r *http.Request, reason string) *http.Response {
	body, _ := json.Marshal(map[string]string{
		"error":  "blocked by bottle egress policy",
		"reason": reason,
		"advice": "This request was refused on purpose and retrying it will not help. If the agent needs this, ask the person supervising the bottle.",
	})
	return goproxy.NewResponse(r, "application/json", http.StatusForbidden, string(body)+"\n")
}

// transport is the upstream transport of a route: it dials through the
// gateway and trusts the host's roots plus the route's upstream CA.
func (p *Proxy) transport(route *Route) *http.Transport {
	key := ""
	if route != nil {
		key = route.Host
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.transports[key]; ok {
		return t
	}
	roots, _ := x509.SystemCertPool()
	if roots == nil {
		roots = x509.NewCertPool()
	}
	if route != nil && route.UpstreamCA != "" {
		if pem, err := os.ReadFile(filepath.Join(p.dir, PolicyDir, route.UpstreamCA)); err == nil {
			roots.AppendCertsFromPEM(pem)
		}
	}
	t := &http.Transport{
		DialContext:         func(ctx context.Context, _, addr string) (net.Conn, error) { return p.dialGateway(ctx, addr) },
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 15 * time.Second,
	}
	p.transports[key] = t
	return t
}

// dialGateway opens a connection to addr through the gateway's socket.
func (p *Proxy) dialGateway(ctx context.Context, addr string) (net.Conn, error) {
	return gateway.Dial(ctx, filepath.Join(p.dir, SocketDir, SocketName), addr)
}

func splitHostPort(hostport string, def int) (string, int) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return strings.Trim(hostport, "[]"), def
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return h, def
	}
	return h, n
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// certStore caches minted leaf certificates per host.
type certStore struct {
	mu    sync.Mutex
	certs map[string]*tls.Certificate
}

func newCertStore() *certStore { return &certStore{certs: map[string]*tls.Certificate{}} }

func (s *certStore) Fetch(host string, gen func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.certs[host]; ok {
		return c, nil
	}
	c, err := gen()
	if err != nil {
		return nil, err
	}
	s.certs[host] = c
	return c, nil
}
