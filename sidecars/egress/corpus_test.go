package egress

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/internal/corpus"
	"github.com/bottle-sandbox/bottle/internal/dlp"
)

// corpusSecret is the injected secret of the corpus' api.example.test route.
const corpusSecret = "corpus-injected-" + "Zq81vLx0Tn5eW2aJ"

// corpusProxy is a real gateway and proxy on loopback, in front of
// loopback upstreams, with the corpus' routes.
type corpusProxy struct {
	dir   string
	roots *x509.CertPool
	up    *corpus.Upstream
}

func newCorpusProxy(t testing.TB) *corpusProxy {
	t.Helper()
	up := &corpus.Upstream{WebSocket: wsUpstream}
	tlsUp := httptest.NewTLSServer(up)
	plainUp := httptest.NewServer(up)
	// A stream still open through the gateway (an MCP server's event
	// stream) would hold Close: the connections are closed first.
	for _, srv := range []*httptest.Server{tlsUp, plainUp} {
		t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	}
	dir, err := os.MkdirTemp("", "corpus-") // short: it holds unix sockets
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	caFile := filepath.Join(dir, "upstream-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsUp.Certificate().Raw}), 0o644)

	routes, err := corpus.Routes("testdata/corpus/routes.toml", tlsUp.URL, caFile, plainUp.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CORPUS_SECRET", corpusSecret)
	egDir := filepath.Join(dir, "egress")
	os.MkdirAll(filepath.Join(dir, "agent"), 0o700)
	if _, err := Prepare(context.Background(), "corpus", egDir, "", filepath.Join(dir, "agent"), routes, nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	gw, err := NewGateway(egDir)
	if err != nil {
		t.Fatal(err)
	}
	serveGateway(t, gw, egDir)
	caPEM, _ := os.ReadFile(filepath.Join(egDir, CAFile))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &corpusProxy{dir: egDir, roots: roots, up: up}
}

// start runs a fresh proxy (the split watch remembers across requests, so
// each case gets its own) and returns its address.
func (cp *corpusProxy) start(t testing.TB) string { return cp.startWith(t, nil) }

func (cp *corpusProxy) startWith(t testing.TB, setup func(*Proxy)) string {
	t.Helper()
	os.Remove(filepath.Join(cp.dir, ReadyFile))
	p, err := NewProxy(cp.dir)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go p.Serve(ctx, "127.0.0.1:0")
	for range 200 {
		// Whole: the file is written after it is created.
		if data, err := os.ReadFile(filepath.Join(cp.dir, ReadyFile)); err == nil && strings.HasSuffix(string(data), "\n") {
			return strings.TrimSpace(string(data))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the proxy did not come up")
	return ""
}

// TestCorpus: every attack in testdata/corpus/attack is blocked, and no
// benign case in testdata/corpus/benign is (issue 11).
func TestCorpus(t *testing.T) {
	cases, err := corpus.Load("testdata/corpus", corpusSecret)
	if err != nil {
		t.Fatal(err)
	}
	cp := newCorpusProxy(t)
	attacks, benign := 0, 0
	for _, c := range cases {
		if c.Attack {
			attacks++
		} else {
			benign++
		}
		t.Run(c.Name, func(t *testing.T) {
			addr := cp.start(t)
			cp.up.SetResponse(c.Response)
			var results []corpus.Result
			for i, raw := range c.Requests {
				r, err := cp.up.Send(addr, cp.roots, raw)
				if err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
				if testing.Verbose() {
					t.Logf("request %d: %s: %.200s", i+1, r.Outcome, r.Detail)
				}
				results = append(results, r)
			}
			for _, d := range c.Verdict(results, dlp.Forms(corpusSecret)) {
				t.Error(d)
			}
		})
	}
	if _, trailers := cp.up.Counts(); trailers > 0 {
		t.Errorf("%d requests reached the upstream with trailers", trailers)
	}
	t.Logf("%d attacks, %d benign cases", attacks, benign)
}
