package gitgate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bottle-sandbox/bottle/internal/gateway"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/net/proxy"
)

// gatewayScheme names the gateway as a proxy to go-git's SSH transport.
const gatewayScheme = "bottle-gateway"

// upstream talks to the real remotes, through the egress gateway only: the
// pod has no other way out.
type upstream struct {
	dir  string // the gate's folder, for its secrets
	sock string // the gateway's socket
}

func newUpstream(dir, sock string) *upstream {
	installTransports()
	return &upstream{dir: dir, sock: sock}
}

// go-git has one transport registry per process. The transports installed
// here hold nothing of a gate's: the gateway's socket comes with each call
// (in its context for HTTP, in the proxy URL for SSH), a remote's CA in its
// options, so gates in one process never see each other's.
var installOnce sync.Once

type sockKey struct{}

func installTransports() {
	installOnce.Do(func() {
		proxy.RegisterDialerType(gatewayScheme, func(u *url.URL, _ proxy.Dialer) (proxy.Dialer, error) {
			return gatewayDialer(u.Query().Get("sock")), nil
		})
		hc := &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				sock, _ := ctx.Value(sockKey{}).(string)
				if sock == "" {
					return nil, errors.New("no egress gateway to reach the upstream through")
				}
				return gateway.Dial(ctx, sock, addr)
			},
		}}
		client.InstallProtocol("https", githttp.NewClient(hc))
		client.InstallProtocol("http", githttp.NewClient(hc))
	})
}

// gatewayDialer dials through the gateway listening on its socket.
type gatewayDialer string

func (g gatewayDialer) Dial(network, addr string) (net.Conn, error) {
	return gateway.Dial(context.Background(), string(g), addr)
}

func (g gatewayDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return gateway.Dial(ctx, string(g), addr)
}

// call is ctx carrying the gateway's socket, for the HTTP transport.
func (u *upstream) call(ctx context.Context) context.Context {
	return context.WithValue(ctx, sockKey{}, u.sock)
}

// session is what a fetch or push needs: auth, proxy options and a transport.
type session struct {
	auth  transport.AuthMethod
	proxy transport.ProxyOptions
	ca    []byte // an HTTPS upstream's own CA, beside the system's roots
}

func (u *upstream) session(rm *remote) (*session, error) {
	s := &session{}
	secret := func(f string) string { return filepath.Join(u.dir, SecretDir, f) }
	ep, err := transport.NewEndpoint(rm.Upstream)
	if err != nil {
		return nil, err
	}
	switch ep.Protocol {
	case "ssh":
		user := ep.User
		if user == "" {
			user = "git"
		}
		if rm.SSHKey == "" {
			return nil, errors.New("no SSH key for this remote (set ssh_key)")
		}
		keys, err := gitssh.NewPublicKeysFromFile(user, secret(rm.SSHKey), "")
		if err != nil {
			return nil, fmt.Errorf("ssh key: %w", err)
		}
		if rm.KnownHosts == "" {
			return nil, errors.New("no known_hosts to check the SSH host key against")
		}
		if keys.HostKeyCallback, err = gitssh.NewKnownHostsCallback(secret(rm.KnownHosts)); err != nil {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
		s.auth = keys
		s.proxy = transport.ProxyOptions{URL: gatewayScheme + "://gateway?sock=" + url.QueryEscape(u.sock)}
	case "http", "https":
		if rm.Token != "" {
			tok, err := os.ReadFile(secret(rm.Token))
			if err != nil {
				return nil, err
			}
			s.auth = &githttp.BasicAuth{Username: rm.Username, Password: strings.TrimSpace(string(tok))}
		}
		if rm.CA != "" {
			if s.ca, err = os.ReadFile(secret(rm.CA)); err != nil {
				return nil, fmt.Errorf("remote %s: ca: %w", rm.Name, err)
			}
		}
	default:
		return nil, fmt.Errorf("cannot reach %s upstreams", ep.Protocol)
	}
	return s, nil
}

// fetch refreshes the mirror's branches and tags from the upstream, and its
// HEAD from the upstream's default branch.
func (u *upstream) fetch(ctx context.Context, rm *remote) error {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	s, err := u.session(rm)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	r := git.NewRemote(rm.repo.Storer, &gitconfig.RemoteConfig{Name: "upstream", URLs: []string{rm.Upstream}})
	ctx = u.call(ctx)
	refs, err := r.ListContext(ctx, &git.ListOptions{Auth: s.auth, ProxyOptions: s.proxy, CABundle: s.ca})
	if err != nil {
		return err
	}
	err = r.FetchContext(ctx, &git.FetchOptions{
		RemoteName:   "upstream",
		RefSpecs:     []gitconfig.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
		Auth:         s.auth,
		ProxyOptions: s.proxy,
		CABundle:     s.ca,
		Tags:         git.NoTags,
		Prune:        true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return err
	}
	for _, ref := range refs {
		if ref.Name() == plumbing.HEAD && ref.Type() == plumbing.SymbolicReference {
			rm.repo.Storer.SetReference(ref)
		}
	}
	return nil
}

// push sends one accepted ref update upstream; the mirror already holds
// its objects. Its ref in the mirror is set only after the upstream took it.
func (u *upstream) push(ctx context.Context, rm *remote, c *packp.Command) error {
	s, err := u.session(rm)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(u.call(ctx), 10*time.Minute)
	defer cancel()
	tmp := plumbing.ReferenceName("refs/bottle/outgoing/" + strings.TrimPrefix(c.Name.String(), "refs/"))
	if err := rm.repo.Storer.SetReference(plumbing.NewHashReference(tmp, c.New)); err != nil {
		return err
	}
	defer rm.repo.Storer.RemoveReference(tmp)
	r := git.NewRemote(rm.repo.Storer, &gitconfig.RemoteConfig{Name: "upstream", URLs: []string{rm.Upstream}})
	err = r.PushContext(ctx, &git.PushOptions{
		RemoteName:   "upstream",
		RefSpecs:     []gitconfig.RefSpec{gitconfig.RefSpec(tmp.String() + ":" + c.Name.String())},
		Auth:         s.auth,
		ProxyOptions: s.proxy,
		CABundle:     s.ca,
		// The upstream must still be where the agent saw it: never overwrite
		// what someone else pushed meanwhile.
		RequireRemoteRefs: requireRemote(c),
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}

func requireRemote(c *packp.Command) []gitconfig.RefSpec {
	if c.Old.IsZero() {
		return nil
	}
	return []gitconfig.RefSpec{gitconfig.RefSpec(c.Old.String() + ":" + c.Name.String())}
}
