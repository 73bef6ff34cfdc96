package main

// The floors: the least any relay between the bottle and the host costs,
// each a few lines of the standard library, run as this program's own
// children (egressbench floor-splice|floor-tls|floor-serve ...) so that
// their CPU is theirs alone, measured in the same run as the sidecars.

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// floorMain runs one floor as a child; it prints the address it listens
// on, then serves until killed.
func floorMain(args []string) error {
	switch {
	case len(args) == 3 && args[0] == "floor-splice":
		return spliceRelay(args[1], args[2])
	case len(args) == 5 && args[0] == "floor-tls":
		return tlsRelay(args[1], args[2], args[3], args[4])
	case len(args) == 4 && args[0] == "floor-serve":
		return serveBulk(args[1], args[2], args[3])
	}
	return fmt.Errorf("usage: egressbench floor-splice LISTEN UPSTREAM | floor-tls LISTEN UPSTREAM_URL CERTDIR CA | floor-serve LISTEN CERTDIR SIZE")
}

// spliceRelay is the least a relay can do: accept, dial, copy both ways
// (io.Copy between two TCP connections splices on Linux, in the kernel).
func spliceRelay(listen, upstream string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{})
			go func() {
				io.Copy(u, c)
				u.(*net.TCPConn).CloseWrite()
				close(done)
			}()
			io.Copy(c, u)
			c.(*net.TCPConn).CloseWrite()
			<-done
		}()
	}
}

// tlsRelay is the least a proxy that ends and begins TLS does: it takes a
// CONNECT, ends the client's TLS with a certificate for the host, and
// sends each request on over TLS (kept alive) to upstream.
func tlsRelay(listen, upstream, certDir, caFile string) error {
	cert, err := tls.LoadX509KeyPair(certDir+"/leaf.pem", certDir+"/leaf-key.pem")
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	up, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(up)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "small.test"}, MaxIdleConnsPerHost: 256}
	inner := &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
	go http.Serve(inner, rp)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	conf := &tls.Config{Certificates: []tls.Certificate{cert}}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err != nil || req.Method != http.MethodConnect || br.Buffered() > 0 {
				c.Close()
				return
			}
			io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
			inner.conns <- tls.Server(c, conf)
		}()
	}
}

// connListener hands the connections a CONNECT opened to an http.Server.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errors.New("closed")
	}
}

func (l *connListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *connListener) Addr() net.Addr { return &net.TCPAddr{} }

// serveBulk serves /bulk, size bytes, over TLS: the upstream across the
// shaped link, in the namespace the bench made.
func serveBulk(listen, certDir, size string) error {
	n, err := strconv.Atoi(size)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(certDir+"/leaf.pem", certDir+"/leaf-key.pem")
	if err != nil {
		return err
	}
	ln, err := tls.Listen("tcp", listen, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	chunk := make([]byte, 1<<20)
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(n))
		for sent := 0; sent < n; sent += len(chunk) {
			w.Write(chunk[:min(len(chunk), n-sent)])
		}
	}))
}

// startFloor starts this program as a floor child (under prefix, a command
// such as ip netns exec, when given) and returns it and the address it
// listens on.
func startFloor(prefix []string, args ...string) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	argv := append(append(prefix, self), args...)
	c := exec.Command(argv[0], argv[1:]...)
	c.Stderr = os.Stderr
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := c.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		c.Process.Kill()
		c.Wait()
		return nil, "", fmt.Errorf("%s: %v", args[0], err)
	}
	return c, strings.TrimSpace(line), nil
}

// writeLeaf writes the bench's leaf certificate and key where the floors
// read them.
func writeLeaf(dir string, cert tls.Certificate) error {
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dir+"/leaf.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(dir+"/leaf-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
}
