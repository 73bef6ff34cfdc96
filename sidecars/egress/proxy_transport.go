package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bottle-sandbox/bottle/internal/gateway"
)

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
		MaxIdleConnsPerHost: 256, // an agent's busiest burst: a new upstream handshake costs far more than a request
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
