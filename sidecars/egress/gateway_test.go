package egress

import (
	"context"
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
	if err := ReachGateway(context.Background(), dir, time.Second, false); err != nil {
		t.Errorf("a listening gateway: %v", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the socket's file stays; nobody listens
	if _, err := os.Stat(sock); err != nil {
		t.Fatal(err)
	}
	// The error names the socket, the deadline and the last try; gVisor's
	// hints only where the folder is shared by them.
	err = ReachGateway(context.Background(), dir, 300*time.Millisecond, false)
	if err == nil || !strings.Contains(err.Error(), sock) || !strings.Contains(err.Error(), "within 300ms") ||
		!strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "runsc") {
		t.Errorf("a socket nobody listens on: %v", err)
	}
	err = ReachGateway(context.Background(), dir, 300*time.Millisecond, true)
	if err == nil || !strings.Contains(err.Error(), sock) || !strings.Contains(err.Error(), "pod_annotations") {
		t.Errorf("a socket nobody listens on, shared by gVisor's hints: %v", err)
	}
}

// A gateway that has not made its socket yet is waited for past the
// deadline for a socket nobody listens on: under load (twenty bottles
// started at once) the gateway's container starts later than the proxy's,
// and the proxy gave up on it, blaming the folder's sharing.
func TestReachGatewayWaitsForALateGateway(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, SocketDir), 0o700)
	sock := filepath.Join(dir, SocketDir, SocketName)
	listening := make(chan net.Listener, 1)
	time.AfterFunc(600*time.Millisecond, func() {
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Error(err)
		}
		listening <- ln
	})
	if err := ReachGateway(context.Background(), dir, 200*time.Millisecond, false); err != nil {
		t.Errorf("a gateway that listens late: %v", err)
	}
	if ln := <-listening; ln != nil {
		ln.Close()
	}
	// One that never comes is waited for as long as the proxy runs.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	os.Remove(sock)
	err := ReachGateway(ctx, dir, 100*time.Millisecond, false)
	if err == nil || strings.Contains(err.Error(), "pod_annotations") || !strings.Contains(err.Error(), "not started") {
		t.Errorf("no gateway: %v", err)
	}
}

// serveGateway serves gw on its folder dir until the test ends, and
// returns once it takes connections, as the proxy's start waits for it:
// a test's first request went out before the gateway listened and got
// EOF (TestOutsideKeyInSmallMessages, a loaded machine's unit run).
func serveGateway(t testing.TB, gw *Gateway, dir string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go gw.Serve(ctx)
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := ReachGateway(wctx, dir, time.Minute, false); err != nil {
		t.Fatal(err)
	}
}
