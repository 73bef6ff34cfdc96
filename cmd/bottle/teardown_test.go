package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/state"
)

// A handed-off teardown runs behind the commands of the person and the
// starts of other bottles: its niceness is teardownNice.
func TestHandedOffTeardownYieldsTheCPU(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "nice")
	exe := filepath.Join(dir, "bottle")
	// The stand-in for bottle: says its own niceness (field 19 of its stat).
	script := "#!/bin/sh\ncat > /dev/null\nset -- $(cat /proc/$$/stat)\nshift 18\necho $1 > " + out + "\n"
	if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	b := state.Root{Dir: filepath.Join(dir, "state")}.Bottle("t-abcde")
	if err := os.MkdirAll(b.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	lock, err := b.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	if err := handOff(exe)(context.Background(), b, lock, func(int) error { return nil }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(out)
		if err == nil && strings.HasSuffix(string(data), "\n") {
			if n, _ := strconv.Atoi(strings.TrimSpace(string(data))); n != teardownNice {
				t.Errorf("the teardown's niceness is %d, not %d", n, teardownNice)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the teardown never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
