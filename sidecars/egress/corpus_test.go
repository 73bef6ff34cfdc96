package egress

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/corpus"
	"github.com/bottle-sandbox/bottle/internal/dlp"
)

// corpusSecret is the injected secret of the corpus' api.example.test route.
const corpusSecret = "corpus-injected-" + "Zq81vLx0Tn5eW2aJ"

// upstream is a loopback upstream that counts what reaches it and answers
// with the current case's response.
type upstream struct {
	mu       sync.Mutex
	received int
	trailers int                     // requests that arrived with trailers: none may
	response []byte                  // raw HTTP response; nil: 200 ok
	mcp      map[string]http.Handler // MCP servers, by path
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isUpgrade(r.Header) {
		u.websocket(w, r)
		return
	}
	if h := u.mcpHandler(r.URL.Path); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	io.Copy(io.Discard, r.Body)
	u.mu.Lock()
	u.received++
	if len(r.Trailer) > 0 {
		u.trailers++
	}
	resp := u.response
	u.mu.Unlock()
	if resp == nil {
		io.WriteString(w, "ok")
		return
	}
	hj, _ := w.(http.Hijacker)
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	c.Write(resp)
}

// corpusProxy is a real gateway and proxy on loopback, in front of
// loopback upstreams, with the corpus' routes.
type corpusProxy struct {
	dir   string
	roots *x509.CertPool
	up    *upstream
}

func newCorpusProxy(t testing.TB) *corpusProxy {
	t.Helper()
	up := &upstream{}
	tlsUp := httptest.NewTLSServer(up)
	plainUp := httptest.NewServer(up)
	t.Cleanup(tlsUp.Close)
	t.Cleanup(plainUp.Close)
	dir, err := os.MkdirTemp("", "corpus-") // short: it holds unix sockets
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	caFile := filepath.Join(dir, "upstream-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsUp.Certificate().Raw}), 0o644)

	var file struct{ Egress []config.Route }
	if _, err := toml.DecodeFile("testdata/corpus/routes.toml", &file); err != nil {
		t.Fatal(err)
	}
	for i := range file.Egress {
		r := &file.Egress[i]
		if len(r.Ports) == 1 && r.Ports[0] == 80 {
			r.Upstream = plainUp.URL
		} else {
			r.Upstream, r.UpstreamCA = tlsUp.URL, caFile
		}
	}
	t.Setenv("CORPUS_SECRET", corpusSecret)
	egDir := filepath.Join(dir, "egress")
	os.MkdirAll(filepath.Join(dir, "agent"), 0o700)
	if _, err := Prepare(context.Background(), "corpus", egDir, "", filepath.Join(dir, "agent"), file.Egress, nil, nil); err != nil {
		t.Fatal(err)
	}
	gw, err := NewGateway(egDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go gw.Serve(ctx)
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
		if data, err := os.ReadFile(filepath.Join(cp.dir, ReadyFile)); err == nil {
			return strings.TrimSpace(string(data))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the proxy did not come up")
	return ""
}

// outcome sends one request and says what became of it.
func (cp *corpusProxy) outcome(addr string, raw []byte) (string, string, error) {
	cp.up.mu.Lock()
	before := cp.up.received
	cp.up.mu.Unlock()
	resp, body, err := corpus.Send(addr, cp.roots, raw)
	if err != nil {
		return "", "", err
	}
	cp.up.mu.Lock()
	reached := cp.up.received > before
	cp.up.mu.Unlock()
	switch {
	case !reached && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusBadGateway):
		return "block", fmt.Sprintf("%d %s", resp.StatusCode, body), nil
	case reached && resp.StatusCode < 400:
		var head strings.Builder
		resp.Header.Write(&head)
		return "allow", head.String() + "\n" + string(body), nil
	}
	return "", "", fmt.Errorf("status %d, reached the upstream: %v: %s", resp.StatusCode, reached, body)
}

// inboundOutcome is what the proxy did to a response the agent got.
func inboundOutcome(answer string) string {
	switch {
	case strings.Contains(answer, "bottle withheld this response"):
		return "blocked"
	case strings.Contains(answer, "[bottle: the content"), strings.Contains(answer, `"bottle_warning"`),
		strings.Contains(answer, "X-Bottle-Inbound"):
		return "marked"
	}
	return ""
}

func orAsSent(s string) string {
	if s == "" {
		return "as sent"
	}
	return s
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
			cp.up.mu.Lock()
			cp.up.response = c.Response
			cp.up.mu.Unlock()
			for i, raw := range c.Requests {
				got, detail, err := cp.outcome(addr, raw)
				if err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
				if got != c.Expect[i] {
					t.Errorf("request %d: %s, want %s (%s)\n%s", i+1, got, c.Expect[i], c.About, strings.TrimSpace(detail))
				} else if got == "block" && i == len(c.Requests)-1 && c.Why != "" && !strings.Contains(detail, c.Why) {
					t.Errorf("request %d: blocked, but not for %q: %s", i+1, c.Why, detail)
				}
				if testing.Verbose() {
					t.Logf("request %d: %s: %.200s", i+1, got, detail)
				}
				if got == "allow" && i == len(c.Requests)-1 {
					if what := inboundOutcome(detail); what != c.Inbound {
						t.Errorf("the response reached the agent %s, want %s (%s)\n%.600s", orAsSent(what), orAsSent(c.Inbound), c.About, detail)
					}
				}
				for _, form := range dlp.Forms(corpusSecret) {
					if strings.Contains(detail, string(form)) {
						t.Errorf("request %d: the answer holds the injected secret (as %q)", i+1, form)
					}
				}
			}
		})
	}
	if cp.up.trailers > 0 {
		t.Errorf("%d requests reached the upstream with trailers", cp.up.trailers)
	}
	t.Logf("%d attacks, %d benign cases", attacks, benign)
}
