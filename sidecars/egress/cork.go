package egress

import (
	"net"
	"sync"
)

// A small response inside an intercepted CONNECT leaves in one write:
// goproxy writes its head and its body apart (two TLS records, two
// segments for the client to wake up to), so the proxy holds the head's
// record back and sends both with the body's. Only a response whose body
// is held whole and small is corked (respond), so the hold never waits on
// the upstream; the next read or a close sends whatever is still held.

// corkMax is the largest body whose response is sent in one write: well
// within one TLS record.
const corkMax = 8 << 10

// corkListener hands out corkConns.
type corkListener struct{ net.Listener }

func (l corkListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &corkConn{Conn: c}, nil
}

// corkConn is a client connection whose next few writes can be held and
// sent as one.
type corkConn struct {
	net.Conn
	mu   sync.Mutex
	hold int // writes still to hold; the one that brings it to 0 sends them all
	held []byte
}

// cork holds the next n writes, and sends them with the last of them.
func (c *corkConn) cork(n int) {
	c.mu.Lock()
	c.hold = n
	c.mu.Unlock()
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.hold == 0 {
		c.mu.Unlock()
		return c.Conn.Write(p)
	}
	defer c.mu.Unlock()
	c.held = append(c.held, p...)
	if c.hold--; c.hold > 0 {
		return len(p), nil
	}
	if _, err := c.flushLocked(); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *corkConn) flushLocked() (int, error) {
	c.hold = 0
	if len(c.held) == 0 {
		return 0, nil
	}
	n, err := c.Conn.Write(c.held)
	c.held = c.held[:0]
	return n, err
}

// Read sends what is held first: the response was whole if the proxy reads
// the next request.
func (c *corkConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	_, err := c.flushLocked()
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *corkConn) Close() error {
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
	return c.Conn.Close()
}

// tcp is the connection under a corkConn, for a tunnel's hand-off.
func tcpOf(c net.Conn) (*net.TCPConn, bool) {
	if cc, ok := c.(*corkConn); ok {
		c = cc.Conn
	}
	tc, ok := c.(*net.TCPConn)
	return tc, ok
}
