package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// AwaitStart is the first process of an agent's container that an engine
// starts ahead of its go-ahead (Podman, rootful: docs/warm.md): it waits
// for the go-ahead, which is the agent's command written into the pipe
// fifo as a JSON array, and by then the workspace is mounted over the
// empty folder at workdir, so it goes into workdir again and becomes the
// command.
func AwaitStart(fifo, workdir string) error {
	f, err := os.Open(fifo) // blocks until the engine opens it to write
	if err != nil {
		return fmt.Errorf("await the go-ahead: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	f.Close()
	if err != nil {
		return fmt.Errorf("await the go-ahead: %w", err)
	}
	var argv []string
	if err := json.Unmarshal(data, &argv); err != nil || len(argv) == 0 {
		return errors.New("await the go-ahead: no command in it")
	}
	if err := os.Chdir(workdir); err != nil {
		return fmt.Errorf("the agent's working directory: %w", err)
	}
	return execCommand(argv)
}

// execCommand makes this process argv, found on PATH as a shell would.
func execCommand(argv []string) error {
	path, err := CommandPath(argv[0])
	if err != nil {
		return err
	}
	if err := syscall.Exec(path, argv, os.Environ()); err != nil {
		return fmt.Errorf("the agent's command %s: %w", path, err)
	}
	return nil
}

// CommandPath is the program an agent's command names (its argv[0]):
// looked up in PATH when it names no folder, as a shell does.
func CommandPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("the agent's command %s: %w", name, err)
	}
	return p, nil
}

// PrepareAhead makes what the agent's container, made ahead of a claim,
// mounts from its folder before the claim prepares it: its home, empty,
// its user's.
func PrepareAhead(in Input) error {
	_, err := prepareHome(in)
	return err
}

// prepareHome makes the agent's home in its state folder (returned), its
// user's: what Prepare starts with, and all PrepareAhead makes.
func prepareHome(in Input) (beneath.Dir, error) {
	st, err := stateOf(in)
	if err != nil {
		return st, err
	}
	if err := st.MkdirAll(homeDir, 0o700); err != nil {
		return st, fmt.Errorf("prepare agent home: %w", err)
	}
	if uid, gid, ok := owner(in); ok {
		if err := st.Chown(homeDir, uid, gid); err != nil {
			return st, fmt.Errorf("prepare agent home: %w", err)
		}
	}
	return st, nil
}
