package pod

import (
	"bufio"
	"context"
	"fmt"

	"github.com/bottle-sandbox/bottle/spec"

	dockerContainer "github.com/docker/docker/api/types/container"

	"github.com/containers/podman/v5/pkg/api/handlers"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/containers"
)

// Exec runs argv in the running container of one of a bottle's services,
// as the container's own user, attached to the streams (a terminal when
// s.TTY), and returns its exit code.
func (c *Conn) Exec(ctx context.Context, identity, service string, argv []string, s spec.Streams) (int, error) {
	name, tty, stdin, stdout, stderr := spec.ContainerName(identity, service), s.TTY, s.Stdin, s.Stdout, s.Stderr
	cctx, cancel := c.call(ctx)
	id, err := containers.ExecCreate(cctx, name, &handlers.ExecCreateConfig{ExecOptions: dockerContainer.ExecOptions{
		Cmd: argv, Tty: tty, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true,
	}})
	cancel()
	if err != nil {
		if isNotFound(err) {
			return -1, &spec.NotFoundError{Name: name}
		}
		return -1, c.errorf(err, "exec in %s", name)
	}
	// The attach takes over its connection's transport: one of its own.
	actx, err := bindings.NewConnection(ctx, c.URI)
	if err != nil {
		return -1, fmt.Errorf("connect to podman at %s: %w", c.URI, err)
	}
	opts := new(containers.ExecStartAndAttachOptions).WithOutputStream(stdout).WithErrorStream(stderr).WithAttachOutput(true).WithAttachError(true)
	if stdin != nil {
		opts = opts.WithInputStream(*bufio.NewReader(stdin)).WithAttachInput(true)
	}
	if err := containers.ExecStartAndAttach(valuesCtx{Context: ctx, values: actx}, id, opts); err != nil {
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		return -1, c.errorf(err, "exec in %s", name)
	}
	ictx, cancel := c.call(context.WithoutCancel(ctx))
	defer cancel()
	info, err := containers.ExecInspect(ictx, id, nil)
	if err != nil {
		return -1, c.errorf(err, "exec in %s", name)
	}
	return info.ExitCode, nil
}
