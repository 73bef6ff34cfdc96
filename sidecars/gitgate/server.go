package gitgate

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/dlp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
)

// Server is the gate: one handler for every remote's smart HTTP endpoints.
type Server struct {
	Dir      string // the gate's folder
	config   *Config
	remotes  map[string]*remote
	upstream *upstream
	audit    *audit
	// injected finds the bottle's own secrets (and their encodings) in pushes.
	injected *dlp.Scanner
}

// remote is a served remote and its mirror; mu orders fetches, pushes and ref updates.
type remote struct {
	Remote
	mu   sync.Mutex
	repo *git.Repository
	// refreshErr says why the last refresh from the upstream failed, for
	// the fetch that follows it; "" when it worked.
	refreshErr string
}

// NewServer opens every remote's mirror under dir.
func NewServer(dir string) (*Server, error) {
	c, err := ReadConfig(beneath.At(dir))
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, config: c, remotes: map[string]*remote{}, audit: &audit{path: filepath.Join(dir, AuditFile)}}
	for _, r := range c.Remotes {
		repo, err := openMirror(MirrorPath(dir, r.Name))
		if err != nil {
			return nil, fmt.Errorf("git gate: remote %s: %w", r.Name, err)
		}
		s.remotes[r.Name] = &remote{Remote: r, repo: repo}
	}
	var values []string
	if data, err := os.ReadFile(filepath.Join(dir, SecretDir, injectedFile)); err == nil {
		if err := json.Unmarshal(data, &values); err != nil {
			return nil, fmt.Errorf("git gate: %s: %w", injectedFile, err)
		}
	}
	s.injected = dlp.New(values).Thorough()
	s.upstream = newUpstream(dir, filepath.Join(GatewayDir, gatewaySock))
	return s, nil
}

// Serve listens on addr until ctx ends, and writes the ready file once it does.
func (s *Server) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("git gate: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := os.WriteFile(filepath.Join(s.Dir, ReadyFile), []byte(addr+"\n"), 0o644); err != nil {
		return err
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ServeHTTP routes /NAME.git/info/refs, /NAME.git/git-upload-pack and
// /NAME.git/git-receive-pack.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), ".git/")
	rm := s.remotes[name]
	if !ok || rm == nil {
		http.Error(w, fmt.Sprintf("the git gate serves no remote %q (it has: %s)", name, strings.Join(s.names(), ", ")), http.StatusNotFound)
		return
	}
	switch {
	case rest == "info/refs" && r.Method == http.MethodGet:
		s.advertise(w, r, rm, r.URL.Query().Get("service"))
	case rest == "git-upload-pack" && r.Method == http.MethodPost:
		s.uploadPack(w, r, rm)
	case rest == "git-receive-pack" && r.Method == http.MethodPost:
		s.receivePack(w, r, rm)
	default:
		http.Error(w, "the git gate speaks Git's smart HTTP protocol only", http.StatusNotFound)
	}
}

func (s *Server) names() []string {
	var n []string
	for _, r := range s.config.Remotes {
		n = append(n, r.Name)
	}
	return n
}

// advertise answers info/refs: for a fetch, after refreshing the mirror from
// the upstream (forward mode); the refs the mirror has either way.
func (s *Server) advertise(w http.ResponseWriter, r *http.Request, rm *remote, service string) {
	var ar *packp.AdvRefs
	var err error
	switch service {
	case transport.UploadPackServiceName:
		if rm.Mode == "forward" && rm.Upstream != "" {
			err := s.upstream.fetch(r.Context(), rm)
			rm.mu.Lock()
			rm.refreshErr = ""
			if err != nil {
				// Serve what the mirror has: the agent still gets a consistent
				// view, and is told it may be behind.
				slog.Warn("refresh from upstream failed", "remote", rm.Name, "err", err)
				rm.refreshErr = fmt.Sprintf("could not refresh %s from %s (%v): these are the refs as the gate last saw them", rm.Name, rm.Upstream, err)
			}
			rm.mu.Unlock()
		}
		rm.mu.Lock()
		ar, err = advertised(rm.repo.Storer, false)
		rm.mu.Unlock()
		if err == nil {
			ar.Capabilities.Set(capability.MultiACKDetailed)
			ar.Capabilities.Set(capability.Sideband64k)
			ar.Capabilities.Set(capability.Sideband)
		}
	case transport.ReceivePackServiceName:
		if err := s.refreshForPush(r.Context(), rm); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		rm.mu.Lock()
		ar, err = advertised(rm.repo.Storer, true)
		rm.mu.Unlock()
	default:
		http.Error(w, "the git gate speaks Git's smart HTTP protocol only (no dumb HTTP)", http.StatusForbidden)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ar.Prefix = [][]byte{[]byte("# service=" + service), pktline.Flush}
	w.Header().Set("Content-Type", "application/x-"+service+"-advertisement")
	w.Header().Set("Cache-Control", "no-cache")
	if err := ar.Encode(w); err != nil {
		slog.Warn("advertise", "remote", rm.Name, "err", err)
	}
}

// refreshForPush brings a forward remote's mirror to the upstream's refs
// before a push is judged: the commits the upstream has are the only ones
// the secret scan may skip. The host's view of the remote, which seeded the
// mirror, is not trusted for that: a bind-mode agent can write it.
func (s *Server) refreshForPush(ctx context.Context, rm *remote) error {
	if rm.Mode != "forward" || rm.Upstream == "" {
		return nil
	}
	if err := s.upstream.fetch(ctx, rm); err != nil {
		return fmt.Errorf("the git gate cannot reach %s to check a push against it: %v", rm.Upstream, err)
	}
	return nil
}

// advertised lists the mirror's refs with the capabilities the gate speaks.
func advertised(st storer.Storer, receive bool) (*packp.AdvRefs, error) {
	srv := server.NewServer(server.MapLoader{"file:///mirror": st})
	ep, _ := transport.NewEndpoint("file:///mirror")
	var ar *packp.AdvRefs
	var err error
	if receive {
		sess, e := srv.NewReceivePackSession(ep, nil)
		if e != nil {
			return nil, e
		}
		ar, err = sess.AdvertisedReferences()
		if err == nil {
			// Per-ref answers, and never a thin pack: every object arrives whole.
			ar.Capabilities.Set(capability.Capability("no-thin"))
		}
	} else {
		sess, e := srv.NewUploadPackSession(ep, nil)
		if e != nil {
			return nil, e
		}
		ar, err = sess.AdvertisedReferences()
	}
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		ar = packp.NewAdvRefs()
		ar.Capabilities.Set(capability.Agent, capability.DefaultAgent())
		ar.Capabilities.Set(capability.OFSDelta)
		if receive {
			ar.Capabilities.Set(capability.DeleteRefs)
			ar.Capabilities.Set(capability.ReportStatus)
			ar.Capabilities.Set(capability.Capability("no-thin"))
		}
		return ar, nil
	}
	return ar, err
}

// body is the request body, decompressed when git sent it gzipped.
func body(r *http.Request) (io.ReadCloser, error) {
	if r.Header.Get("Content-Encoding") == "gzip" {
		return gzip.NewReader(r.Body)
	}
	return r.Body, nil
}

// pktError answers a request with Git's ERR packet, which git shows as
// "remote error: ...".
func pktError(w http.ResponseWriter, contentType, msg string) {
	w.Header().Set("Content-Type", contentType)
	e := pktline.NewEncoder(w)
	e.Encodef("ERR %s\n", msg)
}
