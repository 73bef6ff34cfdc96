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
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/sidecars"
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
	if err := running(ctx, env, id, agent.Service); err != nil {
		return -1, err
	}
	code, err := env.Engine.Exec(ctx, id, agent.Service, argv, spec.Streams{Stdin: env.Stdin, Stdout: env.Stdout, Stderr: env.Stderr, TTY: tty})
	if errors.As(err, new(*spec.NotFoundError)) {
		return -1, notRunning(id)
	}
	return code, inBottleTerms(id, err)
}

// notRunning is the error of a command that needs a running bottle.
func notRunning(id string) error {
	return fmt.Errorf("bottle %s is not running: bottle resume %s", id, id)
}

// running says, in a bottle's terms, when the bottle or its service is
// not running.
func running(ctx context.Context, env Env, id, service string) error {
	pods, err := env.Engine.List(ctx, sidecars.RootLabel(env.Root.Dir))
	if err != nil {
		return inBottleTerms(id, err)
	}
	for _, p := range pods {
		if p.Identity != id {
			continue
		}
		switch {
		case p.Containers[service] == "running":
			return nil
		case strings.EqualFold(p.Status, "running") || strings.EqualFold(p.Status, "degraded"):
			return fmt.Errorf("bottle %s's %s service is not running (what it said: bottle logs %s %s)", id, service, id, service)
		}
	}
	return notRunning(id)
}

// inBottleTerms is err with the engine's names of a bottle's pod and
// containers said as the bottle and its services.
func inBottleTerms(id string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range sidecars.Services {
		msg = strings.ReplaceAll(msg, spec.ContainerName(id, s), "bottle "+id+"'s "+s+" service")
	}
	msg = strings.ReplaceAll(msg, spec.PodName(id), "bottle "+id)
	if msg == err.Error() {
		return err
	}
	return &termsError{msg: msg, err: err}
}

type termsError struct {
	msg string
	err error
}

func (e *termsError) Error() string { return e.msg }
func (e *termsError) Unwrap() error { return e.err }

// Port makes a server on the bottle's loopback reachable on the host's
// 127.0.0.1:hostPort for as long as ctx lasts, without giving the pod a
// network: each connection is relayed by a process run, for its length, in
// the egress proxy's container (in the pod's network namespace), its bytes
// carried over that process's streams. listening gets the host address.
func Port(ctx context.Context, env Env, id string, port, hostPort int, listening func(addr string)) error {
	if _, err := Known(ctx, env, id); err != nil {
		return err
	}
	if err := running(ctx, env, id, egress.Service); err != nil {
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
			if errors.As(err, new(*spec.NotFoundError)) || (err != nil && running(ctx, env, id, egress.Service) != nil) {
				termtext.Fprintf(env.Stderr, "bottle: port %d: %v\n", port, notRunning(id))
			} else if err != nil || code != 0 {
				termtext.Fprintf(env.Stderr, "bottle: port %d of bottle %s: %v%s\n", port, id, orCode(inBottleTerms(id, err), code), strings.TrimSpace(" "+said.String()))
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

// Attach attaches the streams to a running bottle's agent, one started
// detached, until it ends (its exit code, as an ExitError when not 0) or
// the person detaches, when it runs on (nil, said on stderr). Its end is a
// detached bottle's end: bottle ls shows it, rm or gc tears it down.
func Attach(ctx context.Context, env Env, id string, stdin bool) error {
	if _, err := Known(ctx, env, id); err != nil {
		return err
	}
	if err := running(ctx, env, id, agent.Service); err != nil {
		return err
	}
	s := spec.Streams{Stdout: env.Stdout, Stderr: env.Stderr, TTY: env.TTY}
	if stdin {
		s.Stdin = env.Stdin
	}
	code, err := env.Engine.Attach(ctx, id, agent.Service, s)
	switch {
	case errors.Is(err, spec.ErrInputClosed):
		fmt.Fprintf(env.Stderr, "bottle: detached from %s; the engine closed its agent's input (no terminal, and no relay under this runtime), so an agent that reads it ends: bottle ls shows which\n", id)
		return nil
	case errors.Is(err, spec.ErrDetached):
		fmt.Fprintf(env.Stderr, "bottle: detached from %s, which runs on: bottle attach %s\n", id, id)
		return nil
	case errors.As(err, new(*spec.NotFoundError)):
		return notRunning(id)
	case err != nil:
		return inBottleTerms(id, err)
	case code != 0:
		return ExitError(code)
	}
	return nil
}
