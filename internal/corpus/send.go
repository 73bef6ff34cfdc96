package corpus

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Send sends one raw request through the HTTP proxy at proxyAddr as an
// agent's client would: an https:// target inside a CONNECT tunnel, over
// TLS trusting roots, its request line turned to origin form; an http://
// one as it is; a tunnel+http:// one inside a CONNECT tunnel but in plain
// text. It returns the response and its body; a refused CONNECT is the
// response.
func Send(proxyAddr string, roots *x509.CertPool, raw []byte) (*http.Response, []byte, error) {
	line, rest, _ := bytes.Cut(raw, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) != 3 {
		return nil, nil, fmt.Errorf("bad request line %q", line)
	}
	u, err := url.Parse(f[1])
	if err != nil {
		return nil, nil, err
	}
	conn, err := net.DialTimeout("tcp", proxyAddr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	var c net.Conn = conn
	if u.Scheme == "https" || u.Scheme == "tunnel+http" {
		port := u.Port()
		if port == "" {
			port = "443"
		}
		target := net.JoinHostPort(u.Hostname(), port)
		fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil {
			return nil, nil, fmt.Errorf("CONNECT: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			return resp, body, nil
		}
		if u.Scheme == "https" {
			tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), RootCAs: roots, NextProtos: []string{"http/1.1"}})
			if err := tc.Handshake(); err != nil {
				return nil, nil, fmt.Errorf("TLS through the tunnel: %w", err)
			}
			c = tc
		}
		line = []byte(fmt.Sprintf("%s %s %s", f[0], u.RequestURI(), f[2]))
	}
	msg := append(append(append([]byte{}, line...), "\r\n"...), rest...)
	if _, err := c.Write(msg); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: f[0]})
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}
