package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated docs")

// The committed reference and man pages are what the CLI's definitions
// make now; go test ./cmd/bottle -run TestReference -update (make docs)
// writes them anew.
func TestReferenceIsCurrent(t *testing.T) {
	app := newApp(&globals{})
	want := map[string][]byte{"commands.md": []byte(commandReference(app))}
	for name, page := range manPages(app) {
		want[filepath.Join("man", name)] = page
	}
	docs := filepath.Join(repoTop(t), "docs")
	if *update {
		os.RemoveAll(filepath.Join(docs, "man"))
		os.MkdirAll(filepath.Join(docs, "man"), 0o755)
		for name, b := range want {
			if err := os.WriteFile(filepath.Join(docs, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(docs, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("docs/%s is not what the CLI's definitions make (run make docs)", name)
		}
	}
	committed, _ := filepath.Glob(filepath.Join(docs, "man", "*"))
	for _, f := range committed {
		if _, ok := want[filepath.Join("man", filepath.Base(f))]; !ok {
			t.Errorf("docs/man/%s is no command's page (run make docs)", filepath.Base(f))
		}
	}
}

// The reference shows every command with its options before its arguments,
// as the CLI takes them.
func TestReferenceShowsOptionsBeforeArguments(t *testing.T) {
	ref := commandReference(newApp(&globals{}))
	for _, line := range []string{
		"    bottle approve [--reason REASON] [--upstream URL] [--allow-local] IDENTITY REQUEST",
		"    bottle deny [--reason REASON] IDENTITY REQUEST",
		"    bottle logs [--follow] IDENTITY [SERVICE]",
		"- `--config FILE`: use FILE in place of the user's config.toml (environment: BOTTLE_CONFIG)",
	} {
		if !strings.Contains(ref, line+"\n") {
			t.Errorf("the reference lacks %q", line)
		}
	}
	if strings.Contains(ref, "bottle sidecar") {
		t.Error("the reference shows the hidden sidecar command")
	}
}

// A fresh clone's first steps stay at the top of the README.
func TestReadmeStartsWithDemoAndTest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoTop(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	top := strings.Join(lines[:min(len(lines), 20)], "\n")
	for _, want := range []string{"    make demo", "    make test"} {
		if !strings.Contains(top, want) {
			t.Errorf("the README's first 20 lines do not give %q", strings.TrimSpace(want))
		}
	}
	if len(lines) > 160 {
		t.Errorf("the README has %d lines; it is a page (docs/ has the rest)", len(lines))
	}
}

// repoTop is the repository's top folder, found from this file's own path
// (the end-to-end binary runs these tests from another folder).
func repoTop(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}
