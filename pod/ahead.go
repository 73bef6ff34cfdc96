package pod

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/spec"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/specgen"
	ocispec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A rootful engine starts the agent's container ahead of its go-ahead
// (docs/warm.md): its first process, the sidecar binary (the one the
// sidecar image is made of, mounted read-only), waits on a pipe in its
// stage folder (spec.Container.Stage); its
// workspace's place shows an empty folder. At the go-ahead the engine
// mounts the workspace, and whatever the plan mounts beneath it, into the
// container's own mount namespace (nothing is mounted on the host, so
// nothing is left mounted whichever way the bottle ends), then writes the
// agent's command into the pipe, and the waiting process becomes it. A
// warm bottle's agent is made and started so before its claim; a cold
// start does the same, at once.
const (
	aheadBin   = "/run/bottle/bottle" // the sidecar binary, mounted in the agent's container
	aheadStage = "/run/bottle/start"  // the stage folder, mounted read-only
	goFIFO     = "go"                 // in the stage: the go-ahead's pipe
	emptyDir   = "empty"              // in the stage: the workspace's place until the go-ahead
)

// ahead says whether ct is started ahead of its go-ahead: the main
// container with a stage, under runc (gVisor's kernel keeps mounts of its
// own), rootful (a rootless engine's mounts are in its user namespace,
// which a Go process cannot enter: docs/warm.md).
func (c *Conn) ahead(ct spec.Container) bool {
	return c.waits(ct) && !c.Rootless
}

// checks says whether ct is started ahead of its go-ahead with its
// workspace mounted by the engine as it starts it, by path: rootless, under
// runc, where bottle cannot mount it later (ahead). Its go-ahead compares
// what the container has at each such place with what the start recorded
// (checkMounts), so a working directory swapped after the start's checks
// (by a bottle whose workspace holds it) is refused before the agent's
// command runs.
func (c *Conn) checks(ct spec.Container) bool {
	return c.waits(ct) && c.Rootless
}

// waits says whether ct's first process waits for its go-ahead: the main
// container with a stage, under runc (gVisor's kernel keeps mounts of its
// own, and a host's process sees none of them).
func (c *Conn) waits(ct spec.Container) bool {
	return ct.Main && ct.Stage != "" && ct.WorkDir != "" && ct.Runtime == ""
}

// lateMounts splits ct's mounts into those made with the container and
// those at or beneath its working directory (the workspace), made at the
// go-ahead.
func lateMounts(ct spec.Container) (early, late []spec.Mount) {
	for _, m := range ct.Mounts {
		if m.Target == ct.WorkDir || strings.HasPrefix(m.Target, ct.WorkDir+"/") {
			late = append(late, m)
		} else {
			early = append(early, m)
		}
	}
	return early, late
}

// specAhead makes s, the agent's container's spec, one whose process
// waits for its go-ahead: the waiting process of the sidecar binary exe (an
// image volume of the sidecar image would be simpler, but Podman 4.3 now
// and then mounts one whose image is unmounted meanwhile, and the start
// fails), the stage mounted; started ahead (late), the empty folder in the
// workspace's place, else the workspace mounted as planned. The stage is
// made.
func specAhead(s *specgen.SpecGenerator, ct spec.Container, exe string, late bool) error {
	if exe == "" {
		return fmt.Errorf("create container %s: the sidecar binary is not known (Images or Warm first)", ct.Name)
	}
	if err := makeStage(ct); err != nil {
		return err
	}
	s.Command = []string{aheadBin, "sidecar", "await-start", aheadStage + "/" + goFIFO, ct.WorkDir}
	ms := ct.Mounts
	if late {
		ms, _ = lateMounts(ct)
	}
	ms = append(slices.Clip(ms), stageMounts(ct, exe, late)...)
	s.Mounts = nil
	for _, m := range ms {
		s.Mounts = append(s.Mounts, bindMount(m))
	}
	return nil
}

// stageMounts are what the engine mounts into a container whose process
// waits for its go-ahead besides the plan's: the sidecar binary exe and
// the stage, and, started ahead of its workspace (late), the stage's empty
// folder in the workspace's place.
func stageMounts(ct spec.Container, exe string, late bool) []spec.Mount {
	var ms []spec.Mount
	if late {
		ms = append(ms, spec.Mount{Source: filepath.Join(ct.Stage, emptyDir), Target: ct.WorkDir, ReadOnly: true})
	}
	return append(ms, spec.Mount{Source: exe, Target: aheadBin, ReadOnly: true},
		spec.Mount{Source: ct.Stage, Target: aheadStage, ReadOnly: true})
}

func bindMount(m spec.Mount) ocispec.Mount {
	opts := []string{"rbind"}
	if m.ReadOnly {
		opts = append(opts, "ro")
	}
	return ocispec.Mount{Type: "bind", Source: m.Source, Destination: m.Target, Options: opts}
}

// makeStage makes ct's stage: the bottle's own folder, which no container
// writes (the agent's has it read-only), with the empty folder and the
// go-ahead's pipe, which the agent's user reads.
func makeStage(ct spec.Container) error {
	uid, gid, err := userOf(ct.User)
	if err != nil {
		return fmt.Errorf("the stage of %s: %w", ct.Name, err)
	}
	if err := os.MkdirAll(filepath.Join(ct.Stage, emptyDir), 0o755); err != nil {
		return fmt.Errorf("the stage of %s: %w", ct.Name, err)
	}
	fifo := filepath.Join(ct.Stage, goFIFO)
	if err := unix.Mkfifo(fifo, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("the stage of %s: %w", ct.Name, err)
	}
	if err := os.Lchown(fifo, uid, gid); err != nil {
		return fmt.Errorf("the stage of %s: %w", ct.Name, err)
	}
	return markWaiting(ct.Stage)
}

// markWaiting marks a stage's process as waiting for its go-ahead
// (spec.StageWaiting): until the go-ahead, gc takes a bottle that no
// command holds for one whose agent has ended.
func markWaiting(stage string) error {
	f, err := os.OpenFile(filepath.Join(stage, spec.StageWaiting), os.O_CREATE|os.O_WRONLY|os.O_TRUNC|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return fmt.Errorf("the stage %s: %w", stage, err)
	}
	return f.Close()
}

// userOf reads a plan's "uid:gid".
func userOf(user string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(user, ":")
	uid, uerr := strconv.Atoi(u)
	gid, gerr := strconv.Atoi(g)
	if !ok || uerr != nil || gerr != nil {
		return 0, 0, fmt.Errorf("user %q is not uid:gid", user)
	}
	return uid, gid, nil
}

// ensureRunning starts an agent's container made ahead unless it runs
// already (a warm bottle's): starting it again would leave that start's
// error in its state on Podman 5.
func (c *Conn) ensureRunning(ctx context.Context, ct spec.Container) error {
	if pid, _ := c.pidOf(ctx, ct.Name); pid > 0 {
		return nil
	}
	if err := markWaiting(ct.Stage); err != nil {
		return err
	}
	return c.startContainer(ctx, ct.Name)
}

// exists says whether a container is there.
func (c *Conn) exists(ctx context.Context, name string) (bool, error) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	ok, err := containers.Exists(cctx, name, nil)
	if err != nil {
		return false, c.errorf(err, "look up container %s", name)
	}
	return ok, nil
}

// pidOf is a running container's process id (0: it does not run).
func (c *Conn) pidOf(ctx context.Context, name string) (int, error) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	data, err := containers.Inspect(cctx, name, nil)
	if err != nil {
		return 0, c.errorf(err, "inspect container %s", name)
	}
	if data.State == nil || !data.State.Running {
		return 0, nil
	}
	return data.State.Pid, nil
}

// initOf is a pidfd of the running container's init, and its PID, the process the
// engine reports: opened by its PID, then the engine asked again, and the
// process found alive after that, so that a PID the kernel gave to
// another process meanwhile is never entered.
func (c *Conn) initOf(ctx context.Context, name string) (*os.File, int, error) {
	pid, err := c.pidOf(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	if pid == 0 {
		return nil, 0, fmt.Errorf("the agent's container %s does not run", name)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("the agent's container %s: its process %d: %w", name, pid, err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("pidfd %d", pid))
	again, err := c.pidOf(ctx, name)
	if err == nil && again != pid {
		err = fmt.Errorf("the agent's container %s: its process was %d, is now %d", name, pid, again)
	}
	if err == nil {
		// The pidfd's process held pid from before the second inspect to
		// now, so it is the one that inspect reported.
		if err = unix.PidfdSendSignal(fd, 0, nil, 0); err != nil {
			err = fmt.Errorf("the agent's container %s: its process %d: %w", name, pid, err)
		}
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, pid, nil
}

// sendCommand writes the agent's command into its stage's pipe, once its
// waiting process has it open: the go-ahead. A container that ends
// before is told with its last words.
func (c *Conn) sendCommand(ctx context.Context, ct spec.Container) error {
	data, err := json.Marshal(c.command(ct))
	if err != nil {
		return err
	}
	fifo := filepath.Join(ct.Stage, goFIFO)
	deadline := time.Now().Add(readyTimeout)
	inspect := time.Now().Add(inspectEvery)
	for {
		fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err == nil {
			f := os.NewFile(uintptr(fd), fifo)
			if err := unix.SetNonblock(fd, false); err != nil {
				f.Close()
				return err
			}
			_, err = f.Write(data)
			return errors.Join(err, f.Close())
		}
		if !errors.Is(err, unix.ENXIO) || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the go-ahead of %s: %w", ct.Name, err)
		}
		if time.Now().After(inspect) {
			if pid, err := c.pidOf(ctx, ct.Name); err != nil || pid == 0 {
				var out strings.Builder
				c.logs(ctx, ct.Name, false, &out, &out)
				return errors.Join(err, fmt.Errorf("the agent's container %s ended before its go-ahead: %s", ct.Name, lastLine([]byte(out.String()))))
			}
			inspect = time.Now().Add(inspectEvery)
		}
		time.Sleep(2 * time.Millisecond) // its process is not at the pipe yet
	}
}
