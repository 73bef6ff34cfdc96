package lifecycle

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// An isolated build is given its Containerfile as checked, or refused in
// one line; a build of the person's own Containerfile is left alone.
func TestIsolatedBuild(t *testing.T) {
	dir := t.TempDir()
	b, err := unlocked(state.Root{Dir: dir}.Create("repo"))
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := filepath.Join(dir, "context")
	os.MkdirAll(ctxDir, 0o755)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := &config.Agent{Name: "repo", Profile: config.Profile{Containerfile: "/work/Containerfile"}, BuildFrom: []string{"localhost/extra:1"},
		Trusted: config.ImageSource{Image: "docker.io/library/debian:bookworm-slim"}}

	// Allowed: the checked copy beside the file, one instruction a line.
	img := spec.Image{Containerfile: write("ok", "FROM debian:bookworm-slim\nRUN echo a \\\n  b\n"), Context: ctxDir, Isolated: true}
	f, from, err := isolatedBuild(a, b, &img)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(from, []string{"localhost/extra:1", "docker.io/library/debian:bookworm-slim"}) || f == nil || len(f.Instructions) != 2 {
		t.Errorf("from %v, file %+v", from, f)
	}
	if got, _ := os.ReadFile(img.Containerfile); !strings.HasSuffix(img.Containerfile, ".checked") ||
		string(got) != "FROM docker.io/library/debian:bookworm-slim\nRUN echo a   b\n" {
		t.Errorf("the build is given %s:\n%s", img.Containerfile, got)
	}
	if !strings.HasPrefix(img.Ref, "localhost/bottle-repo:") {
		t.Errorf("ref %s", img.Ref)
	}

	// Refused: one line, the file as the person knows it.
	img = spec.Image{Containerfile: write("bad", "FROM localhost/extra:1\nADD http://127.0.0.1:1/x /x\n"), Context: ctxDir, Isolated: true}
	_, _, err = isolatedBuild(a, b, &img)
	if err == nil || !strings.HasPrefix(err.Error(), "/work/Containerfile:2: ADD http://127.0.0.1:1/x /x: source") || strings.Contains(err.Error(), "\n") {
		t.Errorf("refusal: %v", err)
	}

	// An approved request's Containerfile is named as one.
	capability := agent.CapabilityFile(b.AgentDir())
	os.MkdirAll(filepath.Dir(capability), 0o700)
	os.WriteFile(capability, []byte("FROM localhost/other\n"), 0o644)
	img = spec.Image{Containerfile: capability, Context: ctxDir, Isolated: true}
	if _, _, err = isolatedBuild(a, b, &img); err == nil || !strings.HasPrefix(err.Error(), "the approved Containerfile:1: FROM localhost/other") {
		t.Errorf("refusal: %v", err)
	}

	// Not isolated: untouched, whatever it holds.
	own := write("own", "FROM localhost/anything\nRUN --mount=type=cache,target=/c true\n")
	img = spec.Image{Containerfile: own, Context: ctxDir, Ref: "localhost/bottle-repo:x"}
	if f, _, err := isolatedBuild(a, b, &img); err != nil || f != nil || img.Containerfile != own {
		t.Errorf("the person's own build: %v %v %s", f, err, img.Containerfile)
	}
}

// The person's own Containerfile lends what it builds and starts from.
func TestBuildFromTheProfilesContainerfile(t *testing.T) {
	dir := t.TempDir()
	b, err := unlocked(state.Root{Dir: dir}.Create("claude"))
	if err != nil {
		t.Fatal(err)
	}
	a := &config.Agent{Name: "claude", Trusted: config.ImageSource{Containerfile: config.Embedded + "claude.Containerfile", Context: config.Embedded + "."}}
	from, err := buildFrom(a, b, spec.Image{})
	if err != nil {
		t.Fatal(err)
	}
	if len(from) != 2 || !strings.HasPrefix(from[0], "localhost/bottle-claude:") || from[1] != "docker.io/library/node:22-bookworm-slim" {
		t.Errorf("from %v", from)
	}
}

// An approval of a Containerfile the next start would refuse is refused
// now, in one line; one whose FROM the person's config may yet allow is
// approved with a note saying so.
func TestDecideChecksARequestedContainerfile(t *testing.T) {
	root := state.Root{Dir: t.TempDir()}
	b, err := unlocked(root.Create("p"))
	if err != nil {
		t.Fatal(err)
	}
	b.WriteMetadata(state.Metadata{Identity: b.ID, Agent: "p", BuildFrom: []string{"localhost/base:1"}})
	os.MkdirAll(b.SuperviseDir(), 0o700)
	os.MkdirAll(b.AgentDir(), 0o700)
	store := supervise.Store{Dir: b.SuperviseDir(), Log: b.ApprovalsLog()}
	ask := func(cf string) string {
		r := &supervise.Request{ID: supervise.NewID(), Kind: supervise.KindCapability, Containerfile: cf, Reason: "r", Status: supervise.StatusPending, CreatedAt: time.Now()}
		if err := store.Create(r); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	approve := func(id string) (Outcome, error) {
		return Decide(context.Background(), Env{Root: root, Engine: newFakeEngine(), Stderr: io.Discard}, Decision{Identity: b.ID, Request: id, Status: supervise.StatusApproved, By: "t"})
	}

	id := ask("FROM localhost/base:1\nADD http://127.0.0.1:9/x /x\n")
	if _, err := approve(id); err == nil || !strings.Contains(err.Error(), "the requested Containerfile:2: ADD http://127.0.0.1:9/x /x: source") || strings.Contains(err.Error(), "\n") {
		t.Errorf("approving an ADD of a URL: %v", err)
	}
	if _, err := os.Stat(agent.CapabilityFile(b.AgentDir())); err == nil {
		t.Error("the refused Containerfile was written for the next start")
	}
	if r, _ := store.Get(id); r.Status != supervise.StatusPending {
		t.Errorf("the refused request is %s", r.Status)
	}

	id = ask("FROM localhost/elsewhere:2\nRUN true\n")
	out, err := approve(id)
	if err != nil || !out.Restart || !strings.Contains(out.Message, "its FROM localhost/elsewhere:2 is neither the profile's image nor in build_from") {
		t.Errorf("approving a FROM not yet allowed: %+v %v", out, err)
	}
}
