package inpod

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// How a cluster bottle's agent gets its go-ahead, with as little waiting in
// a row as the pod allows: the state keeper, which sees every sidecar's
// ready files (the volume whole, the socket folders), marks the sidecars
// ready as soon as the last file is there; one exec in the agent's
// container proves the isolation while it waits for that mark, says so,
// and starts the agent once the engine, whose terminal is attached by
// then, says go. No kubelet probe is in that path (a probe runs once a
// second at most).

// Proven is what the go-ahead says once the isolation held and the
// sidecars are ready; Go is the engine's word that starts the agent.
const (
	Proven = "proven"
	Go     = "go"
)

// proofWait is how long each target of the proof has to answer: a
// connection the isolation drops is never refused, only unanswered.
const proofWait = 1500 * time.Millisecond

// filePoll is how often a wait in the pod looks for its file: a stat.
const filePoll = 20 * time.Millisecond

// MarkReady waits until every one of ready exists, then makes mark: the
// state keeper's word that the bottle's sidecars are ready. It waits until
// ctx ends; the engine bounds the start, and says which container failed.
func MarkReady(ctx context.Context, ready []string, mark string) error {
	for _, f := range ready {
		if err := awaitFile(ctx, f); err != nil {
			return err
		}
	}
	return Touch(mark)
}

// GoAhead proves, from where it runs (the agent's container, as the
// agent's user), that none of targets answers, while it waits for the
// sidecars' ready mark (after, "" for none); then, when word is not nil,
// says Proven on say and waits for the engine's Go on word; then makes
// goFile, the go-ahead the agent's container waits for, holding argv (the
// agent's command, which comes with the go-ahead: the container's own is
// the wait, the same for a pod made ahead of its claim as for a cold one;
// nil: an empty mark). Nothing is made if the proof fails or the word does
// not come.
func GoAhead(ctx context.Context, targets []string, after, goFile string, argv []string, word io.Reader, say io.Writer) error {
	proved := make(chan error, 1)
	go func() { proved <- ProveIsolation(ctx, targets, proofWait) }()
	if after != "" {
		if err := awaitFile(ctx, after); err != nil {
			return fmt.Errorf("the sidecars' ready mark %s: %w", after, err)
		}
	}
	if err := <-proved; err != nil {
		return err
	}
	if word != nil {
		if _, err := fmt.Fprintln(say, Proven); err != nil {
			return err
		}
		line, err := bufio.NewReader(word).ReadString('\n')
		if strings.TrimSpace(line) != Go {
			return fmt.Errorf("the engine did not say go (%q, %v): the agent was not started", strings.TrimSpace(line), err)
		}
	}
	if argv == nil {
		return Touch(goFile)
	}
	return writeCommand(goFile, argv)
}

// writeCommand makes goFile holding argv as JSON, whole or not at all: a
// file of its folder written first (made new, following no link), then
// renamed into place, so the wait that polls for goFile reads it whole.
func writeCommand(goFile string, argv []string) error {
	data, err := json.Marshal(argv)
	if err != nil {
		return err
	}
	tmp := goFile + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, goFile)
}

// readCommand is the agent's command that goFile holds (writeCommand).
func readCommand(goFile string) ([]string, error) {
	f, err := os.OpenFile(goFile, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", goFile)
	}
	var argv []string
	if err := json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&argv); err != nil {
		return nil, fmt.Errorf("the go-ahead %s holds no command: %w", goFile, err)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("the go-ahead %s holds no command", goFile)
	}
	return argv, nil
}

// AwaitSeed waits, for within at most, until every one of files is there:
// the volume's seeded mark and the binary the agent's container starts
// with. It is the state keeper's postStart hook, which holds the start of
// the pod's other containers until then.
func AwaitSeed(ctx context.Context, files []string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for _, f := range files {
		if err := awaitFile(ctx, f); err != nil {
			return fmt.Errorf("the bottle's folders and binary were not in place within %s (%s): %w", within, f, err)
		}
	}
	return nil
}

// AwaitFiles waits, for within at most, until every one of files is there.
func AwaitFiles(ctx context.Context, files []string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for _, f := range files {
		if err := awaitFile(ctx, f); err != nil {
			return fmt.Errorf("%s was not there within %s: %w", f, within, err)
		}
	}
	return nil
}

// awaitFile waits until file exists, or ctx ends.
func awaitFile(ctx context.Context, file string) error {
	for {
		_, err := os.Stat(file)
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(filePoll):
		}
	}
}

// Release lets a claimed warm pod's proxy go on, in the state keeper: it
// takes away unready (the held-back proxy's ready files, and at the warm
// pod's making the sidecars' ready mark), then warm (the proxy's warm
// file: the proxy loads what the claim brought and makes its ready files
// anew), then, when mark is not "", makes mark once every one of ready is
// there (MarkReady), within at most. A name is removed, never followed.
func Release(ctx context.Context, unready []string, warm string, ready []string, mark string, within time.Duration) error {
	for _, f := range append(slices.Clone(unready), warm) {
		if f == "" {
			continue
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if mark == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if err := MarkReady(ctx, ready, mark); err != nil {
		return fmt.Errorf("the sidecars were not ready again within %s: %w", within, err)
	}
	return nil
}
