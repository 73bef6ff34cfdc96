package egress

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bottle-sandbox/bottle/internal/dlp"
	"github.com/bottle-sandbox/bottle/internal/files"
	"github.com/bottle-sandbox/bottle/internal/signin"
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
	// scrubbers take each secret out of what comes back, by secret name.
	scrubbers map[string]*scrubber
	mcp       *mcpWatch
	signin    *signinState
	// budget bounds what is held at once to be scanned, across requests.
	budget *budget

	mu         sync.Mutex
	transports map[string]*http.Transport // by route host
}

// NewProxy loads the egress state folder.
func NewProxy(dir string) (*Proxy, error) {
	p := &Proxy{dir: dir, policy: &policyFile{path: filepath.Join(dir, PolicyDir, RoutesFile)}, transports: map[string]*http.Transport{},
		budget: newBudget(heldBytes, maxWait)}
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
	p.scanner = dlp.New(values).Untrusted() // inspect entrusts the routes with a credential
	p.mcp = newMCPWatch(filepath.Join(dir, PinsFile))
	p.signin = newSigninState(dir)
	p.scrubbers = map[string]*scrubber{}
	for name, v := range p.secrets {
		p.scrubbers[name] = newScrubber(v)
	}
	p.ca, err = tls.LoadX509KeyPair(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load the bottle's CA: %w", err)
	}
	if p.audit, err = openAudit(filepath.Join(dir, AuditFile)); err != nil {
		return nil, err
	}
	return p, nil
}

// ReportTo has what the proxy withholds from MCP servers filed with the
// person supervising the bottle.
func (p *Proxy) ReportTo(r Reporter) { p.mcp.reporter = r }

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
			ctx.UserData = tunnelled{conn: connOf(ctx.Req.Context())}
			return mitm, host
		}
		p.audit.log(entry{Method: "CONNECT", Host: host, Route: route.Host, Decision: "allow", Reason: "tunnel"})
		dest, _ := route.Destination(h, port)
		return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: func(_ *http.Request, client net.Conn, _ *goproxy.ProxyCtx) {
			p.tunnel(client, dest)
		}}, dest
	})
	gp.OnRequest().DoFunc(p.filter) // an allowed request's response is checked in its round trip
	gp.Tr = p.transport(nil)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: gp, ReadHeaderTimeout: 30 * time.Second, ConnContext: withConn}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := files.WriteAtomic(filepath.Join(p.dir, ReadyFile), []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
		return err
	}
	if err := srv.Serve(corkListener{ln}); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tunnel hands a tunnel route's client over to the gateway, which carries
// the bytes from then on without the proxy in the way.
func (p *Proxy) tunnel(client net.Conn, dest string) {
	defer client.Close()
	tc, ok := tcpOf(client)
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

// exchange is what the proxy keeps of an allowed request until its
// response: the audit entry, and the route for the checks on the way back.
type exchange struct {
	entry
	route *Route
	req   *http.Request
	rpc   []rpcCall // the JSON-RPC calls of a request to an MCP server
	// client is the connection of a request inside an intercepted
	// CONNECT, whose small responses are corked; nil for a plain request.
	client *corkConn
}

// tunnelled marks the requests that arrive inside an intercepted CONNECT,
// and keeps the client connection they come on.
type tunnelled struct{ conn net.Conn }

// filter decides on one HTTP request (plain, or inside an intercepted TLS
// connection): route, method and path, what it carries; then injects the
// credential and points the request at its upstream.
func (p *Proxy) filter(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	defPort := 80
	if r.URL.Scheme == "https" {
		defPort = 443
	}
	host, port := splitHostPort(r.URL.Host, defPort)
	e := &entry{Method: r.Method, Host: host, Path: r.URL.Path}
	if p.scanner.ScanURL(r.URL.Path) != nil {
		e.Path = withheld // the audit never holds a secret
	}
	if p.scanner.ScanURL(r.Method) != nil {
		e.Method = withheld
	}
	tun, inTunnel := ctx.UserData.(tunnelled)
	conn := connOf(r.Context())
	if inTunnel {
		conn = tun.conn
	}
	deny := func(reason string) (*http.Request, *http.Response) {
		if e.Path == withheld {
			reason = strings.ReplaceAll(reason, r.URL.Path, withheld)
		}
		e.Decision, e.Reason, e.Status = "deny", reason, http.StatusForbidden
		p.audit.log(*e)
		ctx.UserData = nil
		closeBody(r)
		return r, blocked(r, reason)
	}
	if inTunnel && r.URL.Scheme != "https" {
		return deny("plain HTTP inside a CONNECT tunnel is refused: speak TLS to " + host)
	}
	if r.Method == http.MethodTrace {
		return deny("TRACE is refused: it echoes the request back")
	}
	route := p.match(host, port)
	if route == nil {
		return deny("host not allowed: " + host)
	}
	e.Route = route.Host
	if ok, why := route.Allows(r.Method, r.URL); !ok {
		return deny(why)
	}
	if why := route.Overridden(r.Header); why != "" {
		return deny(why)
	}
	if route.Header != "" {
		r.Header.Del(route.Header) // whatever the agent sent there, it is not the credential
	}
	if route.Query != "" {
		q := r.URL.Query()
		q.Del(route.Query)
		r.URL.RawQuery = q.Encode()
	}
	// A login's route: its token endpoint's refreshes are answered here;
	// every other call on it gets the real access token.
	refreshCall := isSigninToken(route.Signin) && len(route.Paths) > 0 && r.URL.Path == route.Paths[0]
	loginCall := route.Signin != "" && !refreshCall
	if loginCall {
		r.Header.Del("Authorization") // the agent's placeholder
	}
	if isUpgrade(r.Header) {
		if !route.WebSocket {
			return deny(fmt.Sprintf("WebSocket upgrades are refused for %s (its route does not say websocket = true)", route.Host))
		}
		r.Header.Del("Sec-WebSocket-Extensions") // no compression: frames must be readable
	}
	why, body, err := p.inspect(r, route, host, conn)
	if err != nil {
		answer := busy
		if errors.As(err, new(errStalled)) {
			answer = stalledBody
		}
		resp := answer(r, err.Error())
		e.Decision, e.Reason, e.Status = "deny", err.Error(), resp.StatusCode
		p.audit.log(*e)
		ctx.UserData = nil
		return r, resp
	}
	calls := parseRPC(host, body)
	// A call refused gets the server's kind of refusal, so the agent's
	// client carries on with its session; the refusal is audited.
	refuseCalls := func(why string) (*http.Request, *http.Response) {
		answer := rpcRefusal(calls, why)
		if answer == nil {
			return deny(why)
		}
		deny(why)
		if p.mcp.answerOnStream(host, r.URL, answer) {
			return r, goproxy.NewResponse(r, "text/plain", http.StatusAccepted, "")
		}
		return r, goproxy.NewResponse(r, "application/json", http.StatusOK, string(answer))
	}
	if why != "" {
		if len(calls) == 1 && calls[0].method == "tools/call" {
			return refuseCalls(why) // a secret in a tool's arguments
		}
		return deny(why)
	}
	if why := p.refusedCalls(route, calls); why != "" {
		return refuseCalls(why)
	}
	switch {
	case refreshCall:
		// The agent refreshing its login: answered here, never sent on.
		if !signin.IsRefreshGrant(body) {
			return deny("signing in from inside the bottle is refused: sign in on the host, and the bottle uses that login")
		}
		answer, err := p.signin.refresh(r.Context(), signinAgent(route.Signin))
		if err != nil {
			return deny("the login could not be refreshed: " + err.Error())
		}
		e.Decision, e.Reason, e.Status = "allow", "the agent's refresh answered on the host's side", http.StatusOK
		p.audit.log(*e)
		ctx.UserData = nil
		closeBody(r)
		return r, goproxy.NewResponse(r, "application/json", http.StatusOK, string(answer))
	case loginCall:
		if !route.OverTLS(r.URL.Scheme) {
			return deny(fmt.Sprintf("the login for %s is only sent over TLS: use https://", route.Host))
		}
		token, err := p.signin.access(r.Context())
		if err != nil {
			return deny("the login could not be read: " + err.Error())
		}
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if (route.Header != "" || route.Query != "") && route.SendsCredentialTo(host) {
		if !route.OverTLS(r.URL.Scheme) {
			return deny(fmt.Sprintf("the credential for %s is only sent over TLS: use https://", route.Host))
		}
		value := strings.ReplaceAll(route.Value, "{secret}", p.secrets[route.Secret])
		if route.Query != "" {
			q := r.URL.Query()
			q.Set(route.Query, value)
			r.URL.RawQuery = q.Encode()
		} else {
			r.Header.Set(route.Header, value)
		}
	}
	// The transport asks for gzip itself and hands the response back
	// decoded, so that what comes back can be checked.
	r.Header.Del("Accept-Encoding")
	if route.Upstream != "" {
		u, _ := url.Parse(route.Upstream)
		r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, u.Host
	}
	// The response is checked in the round trip, before goproxy sees it: a
	// body it finds changed by a response handler goes to the agent chunked
	// (a TLS record for each piece), one checked here keeps its length.
	ctx.RoundTripper = goproxy.RoundTripperFunc(func(req *http.Request, ctx *goproxy.ProxyCtx) (*http.Response, error) {
		resp, err := p.transport(route).RoundTrip(req)
		if err != nil {
			resp = nil
		}
		return p.respond(resp, ctx), err
	})
	e.Decision, e.Reason = "allow", "route "+route.Host
	e.Bytes = r.ContentLength
	x := &exchange{entry: *e, route: route, req: r, rpc: calls}
	if inTunnel {
		x.client, _ = conn.(*corkConn)
	}
	ctx.UserData = x
	return r, nil
}

// withheld stands in the audit for a path that carries a secret.
const withheld = "[withheld: it carries a secret]"

// respond checks what comes back on an intercepted route: the route's own
// secret never reaches the agent (an upstream that echoes requests would
// hand it over), and instructions aimed at the agent are blocked, marked
// or logged (checkInbound); then the exchange is audited.
func (p *Proxy) respond(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	x, ok := ctx.UserData.(*exchange)
	if !ok || x == nil {
		return resp
	}
	if resp != nil {
		p.checkHeaders(resp, x)
	}
	if resp != nil && resp.StatusCode == http.StatusSwitchingProtocols && isUpgrade(resp.Header) {
		x.Status = resp.StatusCode
		for _, sc := range p.scrubbersOf(x.route) {
			sc.headers(resp) // what follows is the WebSocket's, scrubbed message by message
		}
		if up, ok := resp.Body.(io.ReadWriteCloser); ok && x.route.WebSocket {
			resp.Body = newWSConn(p, x, up)
		} else {
			resp.Body.Close()
			resp = blocked(x.req, "the upstream switched protocols on a route that does not allow it")
		}
	} else if resp != nil {
		x.Status = resp.StatusCode
		decodeResponse(resp)
		for _, sc := range p.scrubbersOf(x.route) {
			sc.response(resp)
		}
		p.checkMCP(resp, x)
		p.checkInbound(resp, x)
		if resp.StatusCode != http.StatusSwitchingProtocols && resp.Body != nil && resp.Body != http.NoBody && x.req.Method != http.MethodHead {
			if resp.ContentLength > 0 {
				x.entry.Received = resp.ContentLength
			} else if resp.ContentLength < 0 {
				// A body of unknown length (a stream): audited now, as
				// every exchange is, and its size in a note at its end.
				note := x.entry
				resp.Body = &countedBody{ReadCloser: resp.Body, done: func(n int64) {
					note.Time, note.Decision, note.Reason, note.Bytes, note.Received = time.Time{}, "received", "the body of unknown length ended", 0, n
					p.audit.log(note)
				}}
			}
		}
	}
	p.audit.log(x.entry)
	ctx.UserData = nil
	if x.client != nil && resp != nil && resp.StatusCode != http.StatusSwitchingProtocols && x.req.Method != http.MethodHead &&
		resp.ContentLength > 0 && resp.ContentLength <= corkMax && len(resp.TransferEncoding) == 0 {
		if _, held := resp.Body.(*heldBody); held {
			x.client.cork(2) // goproxy writes the head, then the body
		}
	}
	return resp
}

// scrubbersOf are the scrubbers of the secrets a route's requests carry:
// its credential's, its sign-in's.
func (p *Proxy) scrubbersOf(route *Route) []*scrubber {
	var out []*scrubber
	if sc := p.scrubbers[route.Secret]; route.Secret != "" && sc != nil {
		out = append(out, sc)
	}
	if route.Signin != "" {
		if sc := p.signin.scrubber(); sc != nil {
			out = append(out, sc)
		}
	}
	return out
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

// busy is the 503 of a request that waited too long for room to be
// scanned: plain that sending it again later will do.
func busy(r *http.Request, reason string) *http.Response {
	body, _ := json.Marshal(map[string]string{
		"error":  "bottle egress proxy busy",
		"reason": reason,
		"advice": "Nothing was refused: the proxy reads every body whole to scan it and holds only so much at once. Send this request again shortly.",
	})
	resp := goproxy.NewResponse(r, "application/json", http.StatusServiceUnavailable, string(body)+"\n")
	resp.Header.Set("Retry-After", "5")
	return resp
}
