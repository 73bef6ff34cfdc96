package egress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// PassSocketName is the gateway's second socket: a tunnelled client's
// connection is handed over it (SCM_RIGHTS), so the bytes of a tunnel route
// flow client -> gateway -> upstream, spliced in the kernel, instead of
// through the proxy as well.
const PassSocketName = "pass.sock"

// handOff gives the client connection to the gateway, which answers the
// CONNECT and carries the tunnel to addr from then on.
func handOff(ctx context.Context, sock string, client *net.TCPConn, addr string) error {
	f, err := client.File()
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "unix", sock)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer c.Close()
	uc := c.(*net.UnixConn)
	if _, _, err := uc.WriteMsgUnix([]byte(addr+"\n"), syscall.UnixRights(int(f.Fd())), nil); err != nil {
		return fmt.Errorf("gateway: hand over: %w", err)
	}
	uc.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(uc).ReadString('\n')
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if line = strings.TrimSpace(line); line != "ok" {
		return errors.New(strings.TrimPrefix(line, "error "))
	}
	return nil
}

// listenPass makes the pass socket, for servePass.
func (g *Gateway) listenPass() (*net.UnixListener, error) {
	sock := filepath.Join(g.dir, SocketDir, PassSocketName)
	os.Remove(sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	// The group is the pod's: on a cluster the proxy is another user of
	// it. The folder is mounted by the gateway and the proxy alone.
	os.Chmod(sock, 0o660)
	return ln, nil
}

// servePass takes handed-over client connections on the pass socket ln.
func (g *Gateway) servePass(ctx context.Context, ln *net.UnixListener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go g.pass(ctx, c)
	}
}

func (g *Gateway) pass(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	buf, oob := make([]byte, 512), make([]byte, syscall.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	client, err := receivedConn(oob[:oobn])
	if err != nil {
		fmt.Fprintf(c, "error %v\n", err)
		return
	}
	addr := strings.TrimSpace(string(buf[:n]))
	up, err := g.dial(ctx, addr)
	if err != nil {
		client.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"))
		client.Close()
		fmt.Fprintf(c, "error %v\n", err)
		return
	}
	// The proxy may let go of the client once the gateway holds it.
	io.WriteString(c, "ok\n")
	client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	splice(client, up)
}

func receivedConn(oob []byte) (net.Conn, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("no connection handed over")
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("no connection handed over")
	}
	f := os.NewFile(uintptr(fds[0]), "client")
	defer f.Close()
	return net.FileConn(f)
}
