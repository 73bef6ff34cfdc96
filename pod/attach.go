package pod

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/bottle-sandbox/bottle/spec"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/containers"
)

// Attach attaches the streams to the running container of one of a
// bottle's services (the agent's, made with stdin open, and with a
// terminal when its start had one), as podman attach does: Podman's keys
// ctrl-p ctrl-q detach. It returns the service's exit code once it ends,
// or spec.ErrDetached when the attach ended and it runs on.
func (c *Conn) Attach(ctx context.Context, identity, service string, s spec.Streams) (int, error) {
	name := spec.ContainerName(identity, service)
	// The attach takes over its connection's transport: one of its own.
	actx, err := bindings.NewConnection(ctx, c.URI)
	if err != nil {
		return -1, fmt.Errorf("connect to podman at %s: %w", c.URI, err)
	}
	bctx := valuesCtx{Context: ctx, values: actx}
	// The detach keys are found here (detachReader), the bindings and the
	// service told of none; the terminal is then made raw here too.
	var in io.Reader
	// An agent with no terminal is given what is typed through its input
	// folder (input.go), its container's stdin left alone: conmon would
	// close it when this attach ends.
	input, relayed, tty := c.inputOf(bctx, name)
	if s.Stdin != nil && !relayed {
		in = &detachReader{r: s.Stdin}
		if tty && isTerminal(s.Stdin) {
			defer rawTerminal(bctx, name, s.Stdin, s.Stdout)()
		}
	}
	// Neither: the agent's input is closed when this attach ends, and one
	// that reads it then ends too (under gVisor).
	detached := spec.ErrDetached
	if !relayed && !tty {
		detached = spec.ErrInputClosed
	}
	attached := make(chan error, 1)
	ready := make(chan bool, 1)
	go func() {
		attached <- containers.Attach(bctx, name, in, s.Stdout, s.Stderr, ready, new(containers.AttachOptions).WithStream(true))
	}()
	select {
	case <-ready:
		// What is typed is read on its own (typedInput), so the detach
		// keys are seen whatever the agent does with its input (closed
		// it: the pipe then takes nothing).
		var fed, keys chan error
		if relayed && s.Stdin != nil {
			typed := newTypedInput(&detachReader{r: s.Stdin})
			fed, keys = make(chan error, 1), make(chan error, 1)
			go func() { keys <- typed.read() }()
			go func() {
				ferr := feedInput(ctx, input, typed)
				typed.fed()
				fed <- ferr
			}()
		}
		// Without a terminal the bindings read the stream until it ends,
		// whatever the context: an interrupt leaves them to it.
	wait:
		for {
			select {
			case err = <-attached:
				break wait
			case <-ctx.Done():
				break wait
			case <-fed:
				fed = nil // the input ended, or the agent's did: its output tells
			case kerr := <-keys:
				keys = nil
				if errors.Is(kerr, define.ErrDetach) {
					return -1, spec.ErrDetached
				}
			}
		}
	case <-ctx.Done():
	case err = <-attached:
		if isNotFound(err) {
			return -1, &spec.NotFoundError{Name: name}
		}
		if err != nil {
			return -1, c.errorf(err, "attach to %s", name)
		}
	}
	if errors.Is(err, define.ErrDetach) && detached == spec.ErrDetached {
		return -1, detached // the person's detach keys
	}
	if code, ok := c.exited(context.WithoutCancel(ctx), name); ok {
		return code, nil
	}
	if err != nil && !errors.Is(err, define.ErrDetach) && ctx.Err() == nil {
		return -1, c.errorf(err, "attach to %s", name)
	}
	return -1, detached
}
