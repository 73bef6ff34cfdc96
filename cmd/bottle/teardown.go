package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/urfave/cli/v2"
)

// teardownCommand is the process a session's teardown is handed off to
// (handOff): hidden, it finishes the teardown of one bottle, holding the
// lock it inherited, once the command that started it says go (closes
// its stdin).
func newTeardownCommand(g *globals) *cli.Command {
	return &cli.Command{
		Name:      "teardown",
		Hidden:    true,
		ArgsUsage: "IDENTITY",
		Action: func(c *cli.Context) error {
			id := c.Args().First()
			if !state.ValidID(id) {
				return fmt.Errorf("teardown: %q names no bottle", id)
			}
			io.Copy(io.Discard, g.stdin) // the go-ahead: its record names this process
			inherited := os.NewFile(3, "lock")
			return withBottles(c.Context, g, func(env lifecycle.Env) error {
				b := env.Root.Bottle(id)
				lock, err := b.Adopt(inherited)
				if err != nil {
					return err
				}
				return lifecycle.Finish(c.Context, env, b, lock)
			})
		},
	}
}

// teardownNice is the niceness of a handed-off teardown: a tenth of the
// CPU share of a command at the default when both want the CPU, and all
// of it when nothing else does.
const teardownNice = 10

// handOff starts `bottle teardown IDENTITY` from the bottle binary exe,
// in a session of its own (a hangup or interrupt of the person's terminal
// does not reach it), its output discarded (what it fails to do stays
// recorded, and the next command says so), the bottle's lock its fd 3.
func handOff(exe string) func(context.Context, *state.Bottle, *state.Lock, func(int) error) error {
	return func(_ context.Context, b *state.Bottle, lock *state.Lock, started func(int) error) error {
		goAhead, hold, err := os.Pipe()
		if err != nil {
			return err
		}
		defer hold.Close()
		cmd := exec.Command(exe, "teardown", b.ID)
		cmd.Stdin = goAhead // its stdout and stderr: the null device
		cmd.ExtraFiles = []*os.File{lock.File()}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		err = cmd.Start()
		goAhead.Close()
		if err != nil {
			return fmt.Errorf("hand off the teardown of %s: %w", b.ID, err)
		}
		// Off the critical path, and behind it: on a busy machine the starts
		// of other bottles (and the person's next command) go first.
		syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, teardownNice)
		if err := started(cmd.Process.Pid); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
		return cmd.Process.Release()
	}
}
