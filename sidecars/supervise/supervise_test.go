package supervise

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestStoreDecideAndLog(t *testing.T) {
	dir := t.TempDir()
	s := Store{Dir: filepath.Join(dir, Service), Log: filepath.Join(dir, "approvals.jsonl")}
	os.Mkdir(s.Dir, 0o700) // Prepare makes it in a bottle
	r := &Request{ID: NewID(), Kind: KindEgress, Host: "registry.npmjs.org", Ports: []int{443}, Reason: "npm install", Status: StatusPending, CreatedAt: time.Now()}
	if err := s.Put(r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("../../etc/passwd"); err == nil {
		t.Error("a path as request id was accepted")
	}
	got, err := s.Decide(r.ID, StatusDenied, "not now", "alice")
	if err != nil || got.Status != StatusDenied || got.DecidedBy != "alice" {
		t.Fatalf("Decide = %+v, %v", got, err)
	}
	if _, err := s.Decide(r.ID, StatusApproved, "", "bob"); err == nil || !strings.Contains(err.Error(), "already denied") {
		t.Errorf("a second decision: %v", err)
	}
	log, _ := os.ReadFile(s.Log)
	for _, want := range []string{`"by":"alice"`, `"decision":"denied"`, `"reason":"not now"`, `"what":"registry.npmjs.org"`, r.ID} {
		if !strings.Contains(string(log), want) {
			t.Errorf("approvals log lacks %s: %s", want, log)
		}
	}
	list, _ := s.List()
	if len(list) != 1 || list[0].ID != r.ID {
		t.Errorf("List = %v", list)
	}
}

func TestAskWaitsBoundedThenPending(t *testing.T) {
	dir := t.TempDir()
	s := &Server{Store: Store{Dir: dir, Log: filepath.Join(dir, "approvals.jsonl")}, Wait: 300 * time.Millisecond}
	start := time.Now()
	_, out, err := s.ask(context.Background(), &Request{Kind: KindEgress, Host: "a.test", Ports: []int{443}})
	if err != nil || out.Status != StatusPending || out.ID == "" {
		t.Fatalf("undecided: %+v, %v", out, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("waited %s, want about %s", d, s.Wait)
	}
	// Decided while it waits: the answer comes back with the reason.
	s.Wait = 10 * time.Second
	go func() {
		for {
			list, _ := s.Store.List()
			for _, r := range list {
				if r.Host == "b.test" {
					s.Store.Decide(r.ID, StatusDenied, "use the mirror", "carol")
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	res, out, err := s.ask(context.Background(), &Request{Kind: KindEgress, Host: "b.test", Ports: []int{443}})
	if err != nil || out.Status != StatusDenied || out.Reason != "use the mirror" {
		t.Fatalf("decided: %+v, %v", out, err)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, "use the mirror") || !strings.Contains(text, "Do not retry") {
		t.Errorf("tool text: %v", text)
	}
}

func TestProposedContainerfile(t *testing.T) {
	dir := t.TempDir()
	a := &config.Agent{Name: "x", Profile: config.Profile{Image: "docker.io/library/debian:bookworm-slim"}}
	if err := Prepare(dir, a, "localhost/bottle-x:1", nil); err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: Store{Dir: dir}}
	got, err := s.proposed(CapabilityArgs{Addition: "RUN apt-get install -y jq"})
	if err != nil || got != "FROM localhost/bottle-x:1\nRUN apt-get install -y jq\n" {
		t.Errorf("addition to an image profile: %q, %v", got, err)
	}
	if err := Prepare(dir, a, "localhost/bottle-x:2", []byte("FROM base\nRUN make")); err != nil {
		t.Fatal(err)
	}
	got, _ = s.proposed(CapabilityArgs{Addition: "RUN make install"})
	if got != "FROM base\nRUN make\nRUN make install\n" {
		t.Errorf("addition to a Containerfile: %q", got)
	}
	for _, bad := range []CapabilityArgs{{}, {Containerfile: "FROM x", Addition: "RUN y"}} {
		if _, err := s.proposed(bad); err == nil {
			t.Errorf("proposed(%+v) accepted", bad)
		}
	}
}

func TestCreateIsBoundedAndExclusive(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	id := NewID()
	if len(id) != 33 || !validID(id) {
		t.Fatalf("NewID = %q", id)
	}
	for _, bad := range []string{"", "r", "rabc", "../x", "r" + strings.Repeat("a", 40), "r0123456z"} {
		if validID(bad) {
			t.Errorf("%q counts as a request id", bad)
		}
	}
	r := &Request{ID: id, Kind: KindNotify, Status: StatusNoted, CreatedAt: time.Now()}
	if err := s.Create(r); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(r); err == nil {
		t.Error("a second request of the same id replaced the first")
	}
	big := &Request{ID: NewID(), Kind: KindEgress, Host: "a.test", Reason: strings.Repeat("x", MaxText+1), Status: StatusPending}
	if err := s.Create(big); err == nil || !strings.Contains(err.Error(), "reason is 4001 bytes") {
		t.Errorf("an oversized reason: %v", err)
	}
	for i := range MaxPending {
		if err := s.Create(&Request{ID: NewID(), Kind: KindEgress, Host: "a.test", Status: StatusPending, CreatedAt: time.Now()}); err != nil {
			t.Fatalf("pending request %d: %v", i, err)
		}
	}
	err := s.Create(&Request{ID: NewID(), Kind: KindEgress, Host: "a.test", Status: StatusPending})
	if !errors.Is(err, ErrTooMany) || !strings.Contains(err.Error(), "wait for a decision") {
		t.Errorf("one pending request too many: %v", err)
	}
	for i := 0; i < MaxStored-MaxPending-1; i++ {
		if err := s.Create(&Request{ID: NewID(), Kind: KindNotify, Status: StatusNoted}); err != nil {
			t.Fatalf("note %d: %v", i, err)
		}
	}
	if err := s.Create(&Request{ID: NewID(), Kind: KindNotify, Status: StatusNoted}); !errors.Is(err, ErrTooMany) {
		t.Errorf("one note too many: %v", err)
	}
}

func TestResolveTakesAUniquePrefix(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	a := &Request{ID: "r0123456789abcdef0123456789abcdef", Kind: KindNotify, Status: StatusNoted}
	b := &Request{ID: "r0123456799abcdef0123456789abcdef", Kind: KindNotify, Status: StatusNoted}
	s.Create(a)
	s.Create(b)
	for in, want := range map[string]string{a.ID: a.ID, "r01234567": "ambiguous", "r012345678": a.ID, "r0123456799": b.ID, "r0123": "no such", "../x": "no such", "r999999999": "no such"} {
		got, err := s.Resolve(in)
		if (err == nil && got != want) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("Resolve(%q) = %q, %v; want %s", in, got, err, want)
		}
	}
}

// An agent may ask for localhost or an address: the person is told it
// reaches this machine (issue 23: it was refused as "not a lower-case host name").
func TestEgressRequestHosts(t *testing.T) {
	for h, ok := range map[string]bool{"localhost": true, "api.example.com": true, "*.example.com": true, "127.0.0.1": true, "::1": true, "[::1]": true,
		"Example.com": false, "a b": false, "": false, "-x.com": false, "x..com": false} {
		if err := checkHost(h); (err == nil) != ok {
			t.Errorf("%q: %v", h, err)
		}
	}
}
