package inpod

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// loopbackTargets are two addresses on the loopback: one a listener
// answers (until the test ends), one nothing does.
func loopbackTargets(t *testing.T) (answers, silent string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent = closed.Addr().String()
	closed.Close()
	return ln.Addr().String(), silent
}

func TestProveIsolation(t *testing.T) {
	answers, closedAddr := loopbackTargets(t)
	ctx := context.Background()
	if err := ProveIsolation(ctx, []string{closedAddr}, 300*time.Millisecond); err != nil {
		t.Errorf("nothing answers, yet: %v", err)
	}
	if err := ProveIsolation(ctx, []string{closedAddr, answers}, 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), answers) {
		t.Errorf("a listener answered, yet: %v", err)
	}
	udp, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer udp.Close()
	go func() {
		buf := make([]byte, 512)
		n, from, err := udp.ReadFrom(buf)
		if err == nil {
			udp.WriteTo(buf[:n], from)
		}
	}()
	if err := ProveIsolation(ctx, []string{"udp://" + udp.LocalAddr().String()}, 500*time.Millisecond); err == nil {
		t.Error("a DNS server answered, yet the isolation was proven")
	}
}

func TestUntarStaysInside(t *testing.T) {
	dir := t.TempDir()
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(src, "a", "b", "f"), []byte("x"), 0o600)
	pr, pw := ioPipe()
	go func() { pw.CloseWithError(TarFolders(src, []string{"a", "missing"}, nil, pw)) }()
	if err := Untar(beneath.At(dir), pr, -1); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "a", "b", "f")); err != nil || string(b) != "x" {
		t.Errorf("round trip: %q %v", b, err)
	}
}

func ioPipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }

// TestCopyBackFollowsNoLink: a folder brought back from a cluster's volume
// is written over the host's without following a link there (a workspace
// copy's own link, relative, pointing at the bottle's records), and only
// into the folders asked for.
func TestCopyBackFollowsNoLink(t *testing.T) {
	state := t.TempDir()
	os.MkdirAll(filepath.Join(state, "agent", "workspace"), 0o755)
	os.WriteFile(filepath.Join(state, "workspace.json"), []byte("record"), 0o600)
	os.Symlink("../../workspace.json", filepath.Join(state, "agent", "workspace", "x"))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "agent/workspace/x", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("agent"))
	tw.Close()
	if err := Untar(beneath.At(state), bytes.NewReader(buf.Bytes()), -1, "agent"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(state, "workspace.json")); string(b) != "record" {
		t.Errorf("the copy-back wrote through the link: the record holds %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(state, "agent", "workspace", "x")); string(b) != "agent" {
		t.Errorf("the file did not replace the link: %q", b)
	}
	if err := Untar(beneath.At(state), bytes.NewReader(buf.Bytes()), -1, "git-gate"); err == nil {
		t.Error("a folder not asked for was written")
	}
}

func TestUntarRefusesAPathOut(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "../escape", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o755)
	if err := Untar(beneath.At(filepath.Join(dir, "in")), &buf, -1); err == nil || !strings.Contains(err.Error(), "leaves the folder") {
		t.Error("a tar entry leaving the folder was written")
	}
	if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil {
		t.Error("the file outside was made")
	}
}

// Reach waits for what answers, and says what did not.
func TestReach(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	ctx := context.Background()
	if err := Reach(ctx, []string{ln.Addr().String()}, time.Second); err != nil {
		t.Errorf("a listener: %v", err)
	}
	if err := Reach(ctx, []string{ln.Addr().String(), closedAddr}, 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), closedAddr) {
		t.Errorf("nothing listens: %v", err)
	}
}

// TestTouchFollowsNoLinkAndWaitsOnNoPipe: a mark's folder is written by
// the agent's container too; what it leaves where a mark goes is refused,
// and what a link points at is left as it was.
func TestTouchFollowsNoLinkAndWaitsOnNoPipe(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.Symlink(target, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := Touch(filepath.Join(dir, "link")); err == nil {
		t.Error("a mark made through a link")
	}
	if _, err := os.Lstat(target); err == nil {
		t.Error("the link's target was made")
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := Touch(filepath.Join(dir, "pipe")); err == nil {
		t.Error("a pipe taken for a mark")
	}
	if err := os.Mkdir(filepath.Join(dir, "folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Touch(filepath.Join(dir, "folder")); err == nil {
		t.Error("a folder taken for a mark")
	}
	if err := Touch(filepath.Join(dir, "mark")); err != nil {
		t.Fatal(err)
	}
	if err := Touch(filepath.Join(dir, "mark")); err != nil {
		t.Errorf("a mark made again: %v", err)
	}
}
