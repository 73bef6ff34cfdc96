// Package gateway is the client of the egress gateway, the bottle's only path
// to the network: a tunnel is an HTTP CONNECT over the gateway's unix socket,
// which checks the destination against the bottle's policy again.
package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Dial asks the gateway listening on sock for a connection to addr
// (host:port). The connection's RemoteAddr is addr, not the socket: SSH
// checks host keys against it.
func Dial(ctx context.Context, sock, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", addr, addr)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		c.Close()
		return nil, fmt.Errorf("gateway refused %s: %s", addr, strings.TrimSpace(string(msg)))
	}
	c.SetReadDeadline(time.Time{})
	return &tunnel{Conn: c, r: br, remote: destAddr(addr)}, nil
}

// tunnel is a connection through the gateway: what the gateway's answer
// left buffered is read first.
type tunnel struct {
	net.Conn
	r      *bufio.Reader
	remote net.Addr
}

func (t *tunnel) Read(p []byte) (int, error) { return t.r.Read(p) }
func (t *tunnel) RemoteAddr() net.Addr       { return t.remote }

// destAddr is host:port as a net.Addr.
type destAddr string

func (d destAddr) Network() string { return "tcp" }
func (d destAddr) String() string  { return string(d) }
