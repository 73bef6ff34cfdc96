package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/spec"
)

// Exec runs a command in a running bottle's agent container, for a person
// who wants to look around, and returns its exit code: in a terminal when
// tty (the caller's streams are one).
func Exec(ctx context.Context, env Env, id string, argv []string, tty bool) (int, error) {
	if _, err := Known(ctx, env, id); err != nil {
		return -1, err
	}
	code, err := env.Engine.Exec(ctx, id, agent.Service, argv, spec.Streams{Stdin: env.Stdin, Stdout: env.Stdout, Stderr: env.Stderr, TTY: tty})
	if errors.As(err, new(*spec.NotFoundError)) {
		return -1, fmt.Errorf("bottle %s is not running (bottle resume %s brings it back)", id, id)
	}
	return code, err
}

// Port makes a server on the bottle's loopback reachable on the host's
// 127.0.0.1:hostPort for as long as ctx lasts, without giving the pod a
// network: each connection is relayed by a process run, for its length, in
// the egress proxy's container (in the pod's network namespace), its bytes
// carried over that process's streams. listening gets the host address.
func Port(ctx context.Context, env Env, id string, port, hostPort int, listening func(addr string)) error {
	if _, err := Known(ctx, env, id); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort)))
	if err != nil {
		return fmt.Errorf("listen on the host: %w", err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	listening(ln.Addr().String())
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			var said strings.Builder
			code, err := env.Engine.Exec(ctx, id, egress.Service, []string{spec.SidecarBinary, "sidecar", "relay", target}, spec.Streams{Stdin: c, Stdout: c, Stderr: &said})
			if err != nil || code != 0 {
				fmt.Fprintf(env.Stderr, "bottle: relay to %s in %s: %v%s\n", target, id, orCode(err, code), strings.TrimSpace(" "+said.String()))
			}
		}()
	}
}

func orCode(err error, code int) any {
	if err != nil {
		return err
	}
	return fmt.Sprintf("exit %d", code)
}

// Relay copies stdin to a connection to addr and the connection to stdout,
// until the connection ends: one relayed connection, run in the pod.
func Relay(ctx context.Context, addr string, stdin io.Reader, stdout io.Writer) error {
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	go func() {
		io.Copy(c, stdin)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	_, err = io.Copy(stdout, c)
	return err
}
