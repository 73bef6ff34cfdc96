package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/config"
)

// An outside attacker's traffic (written without the corpora): a real
// proxy and gateway on loopback in front of a loopback upstream that
// records what reaches it and echoes what it was sent.

// outsideSecret is the route's injected credential: it has the '/' and
// '+' of a base64 secret (an AWS secret key's), which echoing servers
// escape.
const outsideSecret = "wJalr9Xq/Tk7+Pz3mVb2Rn8Lc5Hy1Gd4"

// outsideGitHub is a GitHub token in the workspace: the agent holds it.
var outsideGitHub = "ghp_" + "R8mXq2LwZ4vNc7TjKp9sYd3HfB6gAe1Uo5Wi"

type outsideUp struct {
	mu  sync.Mutex
	got []*http.Request // with Body read into bodies
	bod [][]byte
}

func (u *outsideUp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.got = append(u.got, r)
	u.bod = append(u.bod, body)
	u.mu.Unlock()
	key := r.Header.Get("X-Api-Key")
	if isUpgrade(r.Header) {
		w.Header().Set("X-Echo", key) // an upstream that says who it let in
		wsUpstream(w, r)
		return
	}
	switch r.URL.Path {
	case "/echo/php": // PHP's json_encode escapes '/'
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"key":"%s"}`, strings.ReplaceAll(key, "/", `\/`))
	case "/echo/html": // Go's html/template escapes '+'
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<p>%s</p>", strings.NewReplacer("+", "&#43;", "/", "&#x2F;").Replace(key))
	case "/echo/js": // a JSON encoder that escapes every non-alphanumeric
		w.Header().Set("Content-Type", "application/json")
		var b strings.Builder
		for _, c := range key {
			if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				b.WriteRune(c)
			} else {
				fmt.Fprintf(&b, `\u%04x`, c)
			}
		}
		fmt.Fprintf(w, `{"key":"%s"}`, b.String())
	case "/echo/trailer": // the key in a trailer, after the body
		w.Header().Set("Trailer", "X-Key")
		w.Write([]byte("ok"))
		w.(http.Flusher).Flush()
		w.Header().Set("X-Key", key)
	case "/page": // a page as the upstream was asked to serve it, with the headers asked for
		q := r.URL.Query()
		if q.Has("type") {
			w.Header().Set("Content-Type", q.Get("type"))
		} else {
			w.Header()["Content-Type"] = nil // no type, and none sniffed
		}
		for _, h := range q["header"] {
			k, v, _ := strings.Cut(h, ": ")
			w.Header().Add(k, v)
		}
		if code, _ := strconv.Atoi(q.Get("status")); code != 0 {
			w.WriteHeader(code)
		}
		times, _ := strconv.Atoi(q.Get("times")) // a long body: pad, so many times, first
		for range times {
			w.Write([]byte(q.Get("pad")))
		}
		w.Write([]byte(q.Get("body")))
	case "/trailer/note": // what the upstream was asked to put in a trailer, after the body
		w.Header().Set("Trailer", "X-Note")
		w.Header().Set("Content-Type", r.URL.Query().Get("type"))
		w.Write([]byte("ok\n"))
		w.(http.Flusher).Flush()
		w.Header().Set("X-Note", r.URL.Query().Get("note"))
	case "/echo/trickle": // \u-escaped as a JavaScript encoder does, one byte at a time
		w.Header().Set("Content-Type", "text/event-stream")
		msg := "data: " + strings.NewReplacer("/", `\u002F`, "+", `\u002b`).Replace(key) + "\n\n"
		for i := range len(msg) {
			w.Write([]byte{msg[i]})
			w.(http.Flusher).Flush()
		}
	default:
		w.Write([]byte("ok"))
	}
}

// reached reports whether the last request the upstream saw has this
// path, and returns what it saw.
func (u *outsideUp) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.got)
}

type outside struct {
	dir   string
	up    *outsideUp
	addr  string
	roots *tls.Config
}

func newOutside(t testing.TB) *outside {
	t.Helper()
	up := &outsideUp{}
	srv := httptest.NewTLSServer(up)
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	dir, err := os.MkdirTemp("", "outside-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	caFile := filepath.Join(dir, "upstream-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	t.Setenv("OUTSIDE_SECRET", outsideSecret)
	routes := []config.Route{
		// A host the bottle holds no credential for (a paste site).
		{Host: "files.example.test", Ports: []int{443}, Upstream: srv.URL, UpstreamCA: caFile, WebSocket: true},
		// The model's API, with its injected key.
		{Host: "api.example.test", Ports: []int{443}, Upstream: srv.URL, UpstreamCA: caFile, WebSocket: true,
			Credential: &config.Credential{Header: "x-api-key", Value: "{secret}", FromEnv: "OUTSIDE_SECRET"}},
		{Host: "*.cdn.example.test", Ports: []int{443}, Upstream: srv.URL, UpstreamCA: caFile},
	}
	eg := filepath.Join(dir, "egress")
	os.MkdirAll(filepath.Join(dir, "agent"), 0o700)
	if _, err := Prepare(context.Background(), "outside", eg, "", filepath.Join(dir, "agent"), routes, nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	gw, err := NewGateway(eg)
	if err != nil {
		t.Fatal(err)
	}
	serveGateway(t, gw, eg)
	cp := &corpusProxy{dir: eg}
	caPEM, _ := os.ReadFile(filepath.Join(eg, CAFile))
	cp.roots = poolOf(caPEM)
	return &outside{dir: eg, up: up, addr: cp.start(t), roots: &tls.Config{RootCAs: cp.roots}}
}

// send writes raw (a request as the agent's client puts it on the wire,
// \n for line ends in its head) to host through an intercepted CONNECT,
// and returns the answer.
func (o *outside) send(t *testing.T, host, raw string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", o.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n", host, host)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: %v %v", host, resp, err)
	}
	cfg := o.roots.Clone()
	cfg.ServerName = host
	tc := tls.Client(c, cfg)
	head, body, _ := strings.Cut(raw, "\n\n")
	head = strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n"
	if _, err := tc.Write([]byte(head + body)); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// post is a request with a body of its length.
func post(path, host, ctype, body string, headers ...string) string {
	h := ""
	for _, x := range headers {
		h += x + "\n"
	}
	return fmt.Sprintf("POST %s HTTP/1.1\nHost: %s\nContent-Type: %s\n%sContent-Length: %d\n\n%s", path, host, ctype, h, len(body), body)
}
