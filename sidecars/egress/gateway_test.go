package egress

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The proxy starts only once the gateway's socket takes a connection; a
// socket file nobody listens on (what a container sees of another's socket
// on a folder they do not share) is refused, with the fix.
func TestReachGateway(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, SocketDir), 0o700)
	sock := filepath.Join(dir, SocketDir, SocketName)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := ReachGateway(dir, time.Second); err != nil {
		t.Errorf("a listening gateway: %v", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the socket's file stays; nobody listens
	if _, err := os.Stat(sock); err != nil {
		t.Fatal(err)
	}
	err = ReachGateway(dir, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), sock) || !strings.Contains(err.Error(), "pod_annotations") {
		t.Errorf("a socket nobody listens on: %v", err)
	}
}
