package pod

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/spec"

	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/containers"
)

// Up starts a created bottle: its sidecars, each ready, then the agent,
// attached to s until it exits (its exit code), or detached.
func (c *Conn) Up(ctx context.Context, p *spec.Plan, s spec.Streams, detach bool) (int, error) {
	main := p.Main()
	if c.relays(*main) && s.Stdin != nil {
		// The person's input ending ends the agent's: marked, then passed on.
		s.Stdin = &endingInput{r: s.Stdin, dir: filepath.Join(main.Stage, inputStage)}
	}
	start := func() error {
		// No process of the host's sees what gVisor's kernel mounted in the
		// agent's container; what the engine mounted in its sidecars, it does.
		if err := c.checkSidecars(ctx, p); err != nil {
			return err
		}
		return c.startContainer(ctx, main.Name)
	}
	if c.waits(*main) {
		// Its container is started with the sidecars (or ran already).
		start = func() error { return c.goAhead(ctx, p) }
	}
	if detach {
		if err := c.startSidecars(ctx, p); err != nil {
			return 0, err
		}
		return 0, start()
	}
	t0 := time.Now()
	return c.run(ctx, main.Name, s, c.waits(*main), func() error {
		err := c.startSidecars(ctx, p)
		slog.Debug("sidecars ready", "took", time.Since(t0).Round(time.Millisecond))
		return err
	}, start)
}

// Sync has nothing to do: a Podman bottle's folders are the host's own,
// mounted.
func (c *Conn) Sync(context.Context, string, spec.Exchange) error { return nil }

// run attaches the streams to a created container, runs before (the
// sidecars' start) while the attach is set up, then starts the container
// and waits for it to exit, returning its exit code. With a terminal (the
// container made with one, and stdin one) the bindings put it in raw mode
// and forward window size changes. A container started by before (made
// ahead, waiting for its command) is attached once before is done: an
// attach asked of a container being started makes Podman start it too,
// and one of the two fails ("container state improper", seen with ten
// starts at once); such a container says nothing until its command comes.
func (c *Conn) run(ctx context.Context, name string, s spec.Streams, startedBefore bool, before, start func() error) (int, error) {
	// The bindings' attach swaps the HTTP transport of its connection and
	// takes the next socket dialled as the stream: it gets a connection of
	// its own, so the calls made meanwhile cannot be mistaken for it.
	actx, err := bindings.NewConnection(ctx, c.URI)
	if err != nil {
		return -1, fmt.Errorf("connect to podman at %s: %w", c.URI, err)
	}
	attachErr := make(chan error, 1)
	ready := make(chan bool)
	attach := func() {
		go func() {
			attachErr <- containers.Attach(valuesCtx{Context: ctx, values: actx}, name, s.Stdin, s.Stdout, s.Stderr, ready, new(containers.AttachOptions).WithStream(true))
		}()
	}
	if !startedBefore {
		attach()
	}
	beforeErr := make(chan error, 1)
	go func() { beforeErr <- before() }()
	if err := <-beforeErr; err != nil {
		return -1, err
	}
	if startedBefore {
		attach()
	}
	select {
	case <-ready:
		slog.Debug("attached")
	case err := <-attachErr:
		return -1, c.errorf(err, "attach to %s", name)
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	t0 := time.Now()
	if err := start(); err != nil {
		return -1, err
	}
	slog.Debug("agent started", "took", time.Since(t0).Round(time.Millisecond))
	code, err := c.exitCode(ctx, name, attachErr)
	slog.Debug("agent's exit seen", "took", time.Since(t0).Round(time.Millisecond))
	return code, err
}

// exitCode waits for a started container to exit, and for its output to be
// drained, and returns its exit code. Podman's Wait answers only once the
// exit's cleanup is done, which conmon hands to a new podman process: on a
// busy machine that is half a second after the exit. The attach stream ends
// at the exit, so from then on the container's state is also polled, for a
// second, and whichever knows first answers.
func (c *Conn) exitCode(ctx context.Context, name string, attached <-chan error) (int, error) {
	type result struct {
		code int
		err  error
	}
	results := make(chan result, 2)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		code, err := c.wait(wctx, name)
		results <- result{code, err}
	}()
	for {
		select {
		case r := <-results:
			if r.err != nil {
				return -1, r.err
			}
			if attached != nil {
				// Output may still be in flight when the exit is reported: drain it.
				select {
				case <-attached:
				case <-ctx.Done():
				}
			}
			return r.code, nil
		case <-attached:
			attached = nil
			go func() {
				if code, ok := c.exited(wctx, name); ok {
					results <- result{code, nil}
				}
			}()
		}
	}
}

// exited polls a container's state for a second and reports its exit code
// once it has exited; false if it has not by then, or cannot be read.
func (c *Conn) exited(ctx context.Context, name string) (int, bool) {
	for range 100 {
		cctx, cancel := c.call(ctx)
		data, err := containers.Inspect(cctx, name, nil)
		cancel()
		if err != nil {
			return 0, false
		}
		// "stopped": exited, its cleanup pending; "exited": cleaned up too.
		if st := data.State; st != nil && !st.Running && (st.Status == "stopped" || st.Status == "exited") {
			return int(st.ExitCode), true
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return 0, false
}

// wait blocks until the container exits and returns its exit code.
func (c *Conn) wait(ctx context.Context, name string) (int, error) {
	// The server polls the container every Interval (250ms by default): ask for less.
	code, err := containers.Wait(c.stream(ctx), name, new(containers.WaitOptions).WithInterval("10ms"))
	if err != nil {
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		return -1, c.errorf(err, "wait for %s", name)
	}
	return int(code), nil
}

// Logs copies the output of one of a bottle's services' containers,
// following it when follow is set.
func (c *Conn) Logs(ctx context.Context, identity, service string, follow bool, stdout, stderr io.Writer) error {
	return c.logs(ctx, spec.ContainerName(identity, service), follow, stdout, stderr)
}

// logs copies a container's output, following it when follow is set.
func (c *Conn) logs(ctx context.Context, name string, follow bool, stdout, stderr io.Writer) error {
	var lctx context.Context
	if follow {
		lctx = c.stream(ctx)
	} else {
		var cancel context.CancelFunc
		lctx, cancel = c.call(ctx)
		defer cancel()
	}
	outC, errC := make(chan string), make(chan string)
	done := make(chan error, 1)
	go func() {
		done <- containers.Logs(lctx, name, new(containers.LogOptions).WithStdout(true).WithStderr(true).WithFollow(follow), outC, errC)
	}()
	for {
		select {
		case l := <-outC:
			writeLine(stdout, l)
		case l := <-errC:
			writeLine(stderr, l)
		case err := <-done:
			if err != nil && ctx.Err() == nil {
				if isNotFound(err) {
					return &spec.NotFoundError{Name: name}
				}
				return c.errorf(err, "logs of %s", name)
			}
			return nil
		}
	}
}

// writeLine writes one log line; Podman sends some with their newline, some without.
func writeLine(w io.Writer, l string) {
	if !strings.HasSuffix(l, "\n") {
		l += "\n"
	}
	io.WriteString(w, l)
}
