package inpod

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/bottle-sandbox/bottle/agent"
)

// Package inpod is what runs inside a cluster bottle's pod for the
// Kubernetes engine (package kube), from the sidecar binary: the pod's
// isolation (its first init container), the state keeper (a native
// sidecar holding the bottle's volume, through which its folders are
// copied in at start and back at the end, as tar streams), the agent's
// wait for the engine's go-ahead once its terminal is attached, and the
// proof, from the agent's container, that the isolation holds. It links no
// engine: the sidecar binary runs it.

// The users the pod's containers run as: only the gateway's may leave it.
const (
	GatewayUID int64 = 10001
	ProxyUID   int64 = 10002
	GateUID    int64 = 10003
	HoldUID    int64 = 10004
	AgentUID   int64 = 1000
)

// SocketsByHint is set, in a container's environment, where the pod's
// socket folders are shared by gVisor's mount hints (which a cluster may
// drop): what a socket that is there and refuses most likely means.
const SocketsByHint = "BOTTLE_SOCKETS_BY_HINT"

// Seeded is the file, at the volume's root, that says the bottle's folders
// are on it: the state keeper's postStart hook waits for it, and so does
// every container after.
const Seeded = ".bottle-seeded"

// Keep makes the volume the pod's group's, marks the sidecars ready (mark,
// once every one of ready exists; see MarkReady), then holds on until ctx
// ends: the state keeper's whole job between the copies the engine makes
// through it.
func Keep(ctx context.Context, volume string, ready []string, mark string) error {
	if volume != "" {
		if err := os.Chown(volume, int(AgentUID), int(AgentUID)); err != nil {
			return fmt.Errorf("state: %w", err)
		}
		if err := os.Chmod(volume, 0o770|fs.ModeSetgid); err != nil {
			return fmt.Errorf("state: %w", err)
		}
	}
	if mark != "" {
		if err := MarkReady(ctx, ready, mark); err != nil && ctx.Err() == nil {
			return fmt.Errorf("state: mark the sidecars ready: %w", err)
		}
	}
	<-ctx.Done()
	return nil
}

// AwaitThenExec waits until file exists, then becomes argv, or, when argv
// is empty, the command file holds (it came with the go-ahead): the
// agent's command starts only once the engine has attached its terminal,
// so no output is lost before anyone reads it.
func AwaitThenExec(ctx context.Context, file string, argv []string) error {
	if err := awaitFile(ctx, file); err != nil {
		return err
	}
	if len(argv) == 0 {
		var err error
		if argv, err = readCommand(file); err != nil {
			return err
		}
	}
	path, err := agent.CommandPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, os.Environ())
}

// Touch makes file (the go-ahead, or the volume's seeded mark).
//
// The folders its marks are made in are written by the agent's container
// too (the go-ahead's exec makes its mark there): a link or a pipe left
// where a mark goes is refused, never followed or waited on (the state
// keeper, as root, makes its mark again if it restarts).
func Touch(file string) error {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o660)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", file)
	}
	return nil
}
