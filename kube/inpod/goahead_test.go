package inpod

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The go-ahead is made only once the proof held, the sidecars' mark is
// there and the engine said go; each missing, and the agent does not start.
func TestGoAheadNeedsTheProofTheMarkAndTheWord(t *testing.T) {
	open, shut := loopbackTargets(t)
	for _, tc := range []struct {
		name   string
		target string
		mark   bool
		word   string
		made   bool
	}{
		{"all there", shut, true, "go\n", true},
		{"a target answers", open, true, "go\n", false},
		{"no mark", shut, false, "go\n", false},
		{"no word", shut, true, "", false},
		{"another word", shut, true, "stop\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mark, goFile := filepath.Join(dir, "ready"), filepath.Join(dir, "go")
			if tc.mark {
				os.WriteFile(mark, nil, 0o600)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			var said bytes.Buffer
			argv := []string{"/bin/sh", "-c", "echo 'the agent'"}
			err := GoAhead(ctx, []string{tc.target}, mark, goFile, argv, strings.NewReader(tc.word), &said)
			_, serr := os.Stat(goFile)
			if made := serr == nil; made != tc.made {
				t.Errorf("go-ahead made: %v, want %v (err %v)", made, tc.made, err)
			}
			// The agent's command comes with the go-ahead, whole.
			if got, rerr := readCommand(goFile); tc.made && (rerr != nil || !slices.Equal(got, argv)) {
				t.Errorf("the go-ahead holds %q (%v), want %q", got, rerr, argv)
			}
			if (err == nil) != tc.made {
				t.Errorf("err %v", err)
			}
			if proven := strings.Contains(said.String(), Proven); proven != (tc.mark && tc.target == shut) {
				t.Errorf("said %q", said.String())
			}
		})
	}
}

// The keeper's mark comes once every ready file is there, not before.
func TestMarkReadyWaitsForEveryFile(t *testing.T) {
	dir := t.TempDir()
	a, b, mark := filepath.Join(dir, "a"), filepath.Join(dir, "sub", "b"), filepath.Join(dir, "mark")
	done := make(chan error, 1)
	go func() { done <- MarkReady(context.Background(), []string{a, b}, mark) }()
	os.WriteFile(a, nil, 0o600)
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(mark); err == nil {
		t.Fatal("marked ready with one file missing")
	}
	os.Mkdir(filepath.Dir(b), 0o700)
	os.WriteFile(b, nil, 0o600)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Errorf("not marked: %v", err)
	}
}
