// Command probe is the end-to-end tests' scripted agent: it runs inside a
// bottle and tries things, printing one line per attempt: "ok ..." or
// "fail ...". It uses the proxy and CA variables as any client would.
package main

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"crypto/tls"
	"crypto/x509"
	"fmt"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe get|post|tcp|udp|dns|read|unix|noproxy ARGS...")
		os.Exit(2)
	}
	args := os.Args[2:]
	var err error
	var out string
	switch os.Args[1] {
	case "get": // URL [Header: value]...
		out, err = request(http.MethodGet, args[0], "", args[1:])
	case "post": // URL BODY [Header: value]...
		out, err = request(http.MethodPost, args[0], args[1], args[2:])
	case "postfile": // URL PATH
		var b []byte
		if b, err = os.ReadFile(args[1]); err == nil {
			out, err = request(http.MethodPost, args[0], string(b), nil)
		}
	case "gettrusting": // URL CAFILE: GET trusting only that CA, as through a tunnel route
		out, err = requestTrusting(args[0], args[1])
	case "mcp-egress": // HOST PORT REASON
		port, _ := strconv.Atoi(args[1])
		out, err = callTool("request_egress", map[string]any{"host": args[0], "ports": []int{port}, "reason": args[2]})
	case "mcp-capability": // FILE REASON
		var b []byte
		if b, err = os.ReadFile(args[0]); err == nil {
			out, err = callTool("request_capability", map[string]any{"containerfile": string(b), "reason": args[1]})
		}
	case "mcp-capability-add": // LINES REASON
		out, err = callTool("request_capability", map[string]any{"addition": args[0], "reason": args[1]})
	case "mcp-status": // ID
		out, err = callTool("request_status", map[string]any{"id": args[0]})
	case "mcp-notify": // MESSAGE
		out, err = callTool("notify", map[string]any{"message": args[0]})
	case "mcp-tools": // URL: the names of an MCP server's tools, through the proxy
		out, err = mcpTools(args[0])
	case "mcp-call": // URL NAME: call a tool of an MCP server through the proxy
		out, err = mcpCall(args[0], args[1])
	case "mcp-wait": // URL NAME SECONDS: list until the tool is there
		deadline := time.Now().Add(parseSeconds(args[2]))
		for {
			out, err = mcpTools(args[0])
			if err == nil && slices.Contains(strings.Split(out, ","), args[1]) || time.Now().After(deadline) {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
	case "mcp-image": // prints the image this bottle runs, from current_config, alone
		out, err = callTool("current_config", map[string]any{})
		if err == nil {
			var cc struct{ Image string }
			json.Unmarshal([]byte(out), &cc)
			fmt.Println(cc.Image)
			return
		}
	case "retry": // URL SECONDS: GET until 200
		deadline := time.Now().Add(parseSeconds(args[1]))
		for {
			out, err = request(http.MethodGet, args[0], "", nil)
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	case "getproxied": // URL: GET through $HTTP_PROXY even for a loopback address, as curl does (Go never proxies those)
		var pu *url.URL
		if pu, err = url.Parse(os.Getenv("HTTP_PROXY")); err == nil {
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
			var resp *http.Response
			if resp, err = client.Get(args[0]); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				out = fmt.Sprintf("%s %s", resp.Status, b)
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
				}
			}
		}
	case "noproxy": // URL: GET ignoring the proxy variables, straight to the host
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
		var resp *http.Response
		if resp, err = client.Get(args[0]); err == nil {
			resp.Body.Close()
			out = resp.Status
		}
	case "flood": // URL N BYTES: N uploads of BYTES each at once; how many got each status
		n, _ := strconv.Atoi(args[1])
		size, _ := strconv.ParseInt(args[2], 10, 64)
		out, err = flood(args[0], n, size)
	case "tcp": // host:port
		var c net.Conn
		c, err = net.DialTimeout("tcp", args[0], 3*time.Second)
		if err == nil {
			c.Close()
		}
	case "udp": // host:port: send a datagram and wait for any answer
		var c net.Conn
		c, err = net.DialTimeout("udp", args[0], 3*time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err = c.Write([]byte("ping")); err == nil {
				_, err = c.Read(make([]byte, 16))
			}
			c.Close()
		}
	case "dns": // name
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var addrs []string
		addrs, err = net.DefaultResolver.LookupHost(ctx, args[0])
		out = strings.Join(addrs, ",")
	case "read": // path
		var b []byte
		b, err = os.ReadFile(args[0])
		out = fmt.Sprintf("%d bytes", len(b))
	case "git-commit": // DIR BRANCH FILE TEXT: commit FILE holding TEXT on a new BRANCH
		out, err = gitCommit(args[0], args[1], args[2], args[3])
	case "write": // PATH TEXT: replace a file's content
		err = os.WriteFile(args[0], []byte(args[1]), 0o644)
	case "gateway": // SOCKET HOST:PORT: ask the egress gateway for a tunnel, as the proxy does
		var c net.Conn
		if c, err = net.DialTimeout("unix", args[0], 3*time.Second); err == nil {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", args[1], args[1])
			line := make([]byte, 64)
			n, _ := c.Read(line)
			out = strings.TrimSpace(strings.SplitN(string(line[:n]), "\r\n", 2)[0])
			if !strings.Contains(out, " 200 ") {
				err = fmt.Errorf("refused: %s", out)
			}
			c.Close()
		}
	case "unix": // path
		var c net.Conn
		c, err = net.DialTimeout("unix", args[0], 3*time.Second)
		if err == nil {
			c.Close()
		}
	default:
		err = fmt.Errorf("unknown probe %q", os.Args[1])
	}
	if err != nil {
		fmt.Printf("fail %s %s: %v\n", os.Args[1], strings.Join(args, " "), err)
		return
	}
	fmt.Printf("ok %s %s: %s\n", os.Args[1], strings.Join(args, " "), out)
}

func requestTrusting(url, caFile string) (string, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return "", err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), nil
}

// callTool calls a tool of the bottle's supervise MCP server and returns its
// status (for request tools) and text.
func callTool(name string, args map[string]any) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "probe", Version: "1"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: os.Getenv("BOTTLE_SUPERVISE_URL")}, nil)
	if err != nil {
		return "", err
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return "", err
	}
	var text []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			text = append(text, t.Text)
		}
	}
	if res.IsError {
		return "", fmt.Errorf("tool error: %s", strings.Join(text, " "))
	}
	status := ""
	if m, ok := res.StructuredContent.(map[string]any); ok && m["status"] != nil {
		status = fmt.Sprint(m["status"], " ", m["id"], " ")
	}
	return status + strings.Join(text, " "), nil
}

// mcpSession connects to an MCP server at url with the default client:
// through $HTTPS_PROXY, trusting $SSL_CERT_FILE.
func mcpSession(ctx context.Context, url string) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "probe", Version: "1"}, nil)
	return client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, nil)
}

func mcpTools(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	session, err := mcpSession(ctx, url)
	if err != nil {
		return "", err
	}
	defer session.Close()
	res, err := session.ListTools(ctx, nil)
	if err != nil {
		return "", err
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ","), nil
}

func mcpCall(url, name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	session, err := mcpSession(ctx, url)
	if err != nil {
		return "", err
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{}})
	if err != nil {
		return "", err
	}
	var text []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			text = append(text, t.Text)
		}
	}
	return strings.Join(text, " "), nil
}

func parseSeconds(s string) time.Duration {
	d, err := time.ParseDuration(s + "s")
	if err != nil {
		return 10 * time.Second
	}
	return d
}

// request returns the status and body; a status other than 200 is an error.
func request(method, url, body string, headers []string) (string, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return "", err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	text := strings.Join(strings.Fields(string(b)), " ")
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, text)
	}
	return text, nil
}

// flood posts n bodies of size bytes at once, streamed (the probe holds
// none of them), and counts the answers by status; a request that got no
// answer is an error. A 503 must say why.
func flood(url string, n int, size int64) (string, error) {
	client := &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxConnsPerHost: 0}}
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make(chan answer, n)
	for range n {
		go func() {
			line := []byte("The quick brown fox jumps over the lazy dog, again and again.\n")
			body := io.LimitReader(&repeat{line: line}, size)
			req, err := http.NewRequest(http.MethodPost, url, body)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			req.ContentLength = size
			req.Header.Set("Content-Type", "text/plain")
			resp, err := client.Do(req)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			answers <- answer{status: resp.StatusCode, body: string(b)}
		}()
	}
	counts := map[int]int{}
	var failed []string
	for range n {
		a := <-answers
		switch {
		case a.err != nil:
			failed = append(failed, a.err.Error())
		case a.status == http.StatusServiceUnavailable && !strings.Contains(a.body, "bottle"):
			failed = append(failed, "a 503 that does not say why: "+a.body)
		case a.status != http.StatusOK && a.status != http.StatusServiceUnavailable:
			failed = append(failed, fmt.Sprintf("status %d: %s", a.status, a.body))
		default:
			counts[a.status]++
		}
	}
	out := fmt.Sprintf("%d answered 200, %d answered 503", counts[200], counts[503])
	if len(failed) > 0 {
		return out, fmt.Errorf("%s; %d failed, the first: %s", out, len(failed), failed[0])
	}
	return out, nil
}

// repeat is an endless reader of one line over and over.
type repeat struct {
	line []byte
	at   int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.line[r.at:])
		n += c
		r.at = (r.at + c) % len(r.line)
	}
	return n, nil
}
