package egress

import (
	"net"
	"testing"
)

type writesConn struct {
	net.Conn
	writes []string
}

func (w *writesConn) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}
func (w *writesConn) Read(p []byte) (int, error) { return 0, nil }
func (w *writesConn) Close() error               { return nil }

// TestCorkConn: corked writes leave as one with the last of them; a read or
// a close sends what is held; uncorked writes pass straight through.
func TestCorkConn(t *testing.T) {
	w := &writesConn{}
	c := &corkConn{Conn: w}
	c.Write([]byte("a"))
	c.cork(2)
	c.Write([]byte("head"))
	if len(w.writes) != 1 {
		t.Fatalf("held write sent: %q", w.writes)
	}
	c.Write([]byte("body"))
	c.Write([]byte("z"))
	if want := []string{"a", "headbody", "z"}; len(w.writes) != 3 || w.writes[1] != want[1] || w.writes[2] != want[2] {
		t.Fatalf("writes %q, want %q", w.writes, want)
	}
	c.cork(2)
	c.Write([]byte("only-head"))
	c.Read(make([]byte, 1))
	c.cork(2)
	c.Write([]byte("closing"))
	c.Close()
	if n := len(w.writes); n != 5 || w.writes[3] != "only-head" || w.writes[4] != "closing" {
		t.Fatalf("writes %q", w.writes)
	}
}
