// Package supervise lets the agent ask for what it lacks and a person
// answer: an MCP server in the pod writes each request as a file in the
// supervise state folder, and the host side (bottle requests, approve, deny,
// the dashboard) reads and decides them there, with no network path into the pod.
package supervise

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// Service is the sidecar's name and state subfolder.
const Service = "supervise"

// Paths.
const (
	RequestsDir  = "requests" // one JSON file per request
	ConfigFile   = "current-config.json"
	ReadyFile    = "ready"
	Addr         = "127.0.0.1:7100"
	URL          = "http://" + Addr + "/mcp"
	ContainerDir = "/run/bottle/supervise"
)

// Kinds of request.
const (
	KindEgress     = "egress"
	KindCapability = "capability"
	KindNotify     = "notify"
	// KindMCPTool is filed by the egress proxy, not the agent: an MCP
	// server's tool changed during the session and is withheld until a
	// person approves the new definition.
	KindMCPTool = "mcp-tool"
)

// Statuses of a request.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusDenied   = "denied"
	StatusNoted    = "noted" // a notification: nothing to decide
)

// Request is one thing the agent asked for.
type Request struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
	// Egress requests.
	Host  string `json:"host,omitempty"`
	Ports []int  `json:"ports,omitempty"`
	// Capability requests: a whole new Containerfile.
	Containerfile string `json:"containerfile,omitempty"`
	// Notifications.
	Message string `json:"message,omitempty"`

	Status    string    `json:"status"`
	Decision  string    `json:"decision_reason,omitempty"`
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitempty"`
}

// Store is a bottle's supervise folder. The sidecar writes requests there;
// the host decides them, and logs each decision to Log, a file the sidecar
// cannot reach (the bottle's own folder), so the record cannot be rewritten
// from inside.
type Store struct {
	Dir string
	Log string // the approvals log; "" for the sidecar, which never decides
}

func (s Store) path(id string) string { return filepath.Join(s.Dir, RequestsDir, id+".json") }

// folder is the supervise folder as the host must read it: the sidecar
// writes it, so no link in it is followed (internal/beneath).
func (s Store) folder() beneath.Dir { return beneath.At(s.Dir) }

func rel(id string) string { return RequestsDir + "/" + id + ".json" }

// NewID mints a request id: 128 random bits, so none is guessed or reused.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "r" + hex.EncodeToString(b)
}

// Bounds on what an agent may file: a bottle's requests are files on the
// host, and a person reads every one.
const (
	MaxPending       = 16  // requests waiting for a decision
	MaxStored        = 200 // requests and notes of every status
	MaxText          = 4000
	MaxHost          = 253
	MaxPorts         = 16
	MaxContainerfile = 64 << 10
)

// ErrTooMany is returned when a bottle already holds as many requests as it may.
var ErrTooMany = errors.New("too many requests")

// Check refuses a request over the bounds, saying which and by how much.
func (r *Request) Check() error {
	for _, f := range []struct {
		name string
		v    string
		max  int
	}{{"reason", r.Reason, MaxText}, {"message", r.Message, MaxText}, {"host", r.Host, MaxHost}, {"containerfile", r.Containerfile, MaxContainerfile}} {
		if len(f.v) > f.max {
			return fmt.Errorf("the %s is %d bytes, over the %d a request may carry: say it shorter", f.name, len(f.v), f.max)
		}
	}
	if len(r.Ports) > MaxPorts {
		return fmt.Errorf("%d ports, over the %d a request may name", len(r.Ports), MaxPorts)
	}
	return nil
}

// Create files a new request: checked against the bounds, then written
// whole, never over another (a request's file is linked into place only
// if no file of that name exists).
func (s Store) Create(r *Request) error {
	if err := r.Check(); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(s.Dir, RequestsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(entries) >= MaxStored {
		return fmt.Errorf("%w: this bottle holds %d requests and notes already, as many as it may: ask the person supervising it to clear them", ErrTooMany, len(entries))
	}
	if r.Status == StatusPending {
		list, err := s.List()
		if err != nil {
			return err
		}
		pending := 0
		for _, o := range list {
			if o.Status == StatusPending {
				pending++
			}
		}
		if pending >= MaxPending {
			return fmt.Errorf("%w: %d requests of this bottle wait for a decision already: wait for them (request_status) before asking for more", ErrTooMany, pending)
		}
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, RequestsDir), 0o700); err != nil {
		return fmt.Errorf("store request: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(s.Dir, RequestsDir), ".new-*")
	if err != nil {
		return fmt.Errorf("store request: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("store request: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store request: %w", err)
	}
	if err := os.Link(f.Name(), s.path(r.ID)); err != nil {
		return fmt.Errorf("store request %s: %w", r.ID, err)
	}
	return nil
}

// Put writes a request atomically, over the one of its id: the host's
// record of a decision.
func (s Store) Put(r *Request) error {
	if err := s.folder().MkdirAll(RequestsDir, 0o700); err != nil {
		return fmt.Errorf("store request: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return s.folder().WriteFile(rel(r.ID), append(data, '\n'), 0o600)
}

// ErrNoRequest is returned for an unknown request id.
var ErrNoRequest = errors.New("no such request")

// validID is the shape NewID mints (earlier versions minted 32 bits).
func validID(id string) bool {
	hexPart, ok := strings.CutPrefix(id, "r")
	if !ok || len(hexPart) < 8 || len(hexPart) > 32 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil
}

// Get reads one request.
func (s Store) Get(id string) (*Request, error) {
	if !validID(id) {
		return nil, fmt.Errorf("request %q: %w", id, ErrNoRequest)
	}
	data, err := s.folder().ReadFile(rel(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("request %q: %w", id, ErrNoRequest)
	}
	if err != nil {
		return nil, err
	}
	var r Request
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read request %s: %w", id, err)
	}
	return &r, nil
}

// Resolve finds the request an id or a unique prefix of one (at least 8
// characters, as the dashboard shows) names.
func (s Store) Resolve(id string) (string, error) {
	if validID(id) {
		if _, err := s.folder().Lstat(rel(id)); err == nil {
			return id, nil
		}
	}
	rest, ok := strings.CutPrefix(id, "r")
	if !ok || len(id) < 8 || strings.Trim(rest, "0123456789abcdef") != "" {
		return "", fmt.Errorf("request %q: %w", id, ErrNoRequest)
	}
	list, err := s.List()
	if err != nil {
		return "", err
	}
	var found []string
	for _, r := range list {
		if strings.HasPrefix(r.ID, id) {
			found = append(found, r.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("request %q: %w", id, ErrNoRequest)
	default:
		return "", fmt.Errorf("request %q is ambiguous: %s", id, strings.Join(found, ", "))
	}
}

// List returns every request, oldest first.
func (s Store) List() ([]*Request, error) {
	entries, err := s.folder().ReadDir(RequestsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Request
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if r, err := s.Get(id); err == nil {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Approval is one line of the approvals log.
type Approval struct {
	Time     time.Time `json:"time"`
	By       string    `json:"by"`
	Request  string    `json:"request"`
	Kind     string    `json:"kind"`
	What     string    `json:"what"`
	Decision string    `json:"decision"`
	Reason   string    `json:"reason,omitempty"`
}

// Decide records a decision on a pending request and appends it to the log.
func (s Store) Decide(id, status, reason, by string) (*Request, error) {
	r, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	if r.Status != StatusPending {
		return nil, fmt.Errorf("request %s is already %s", id, r.Status)
	}
	r.Status, r.Decision, r.DecidedBy, r.DecidedAt = status, reason, by, time.Now().UTC()
	if err := s.Put(r); err != nil {
		return nil, err
	}
	what := r.Host
	if r.Kind == KindCapability {
		what = "Containerfile change"
	}
	line, _ := json.Marshal(Approval{Time: r.DecidedAt, By: by, Request: id, Kind: r.Kind, What: what, Decision: status, Reason: reason})
	if s.Log == "" {
		return nil, errors.New("no approvals log to record the decision in")
	}
	f, err := os.OpenFile(s.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("approvals log: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("approvals log: %w", err)
	}
	return r, nil
}

// Undecided says whether the file name of the requests folder holds a
// request nobody has decided yet (or none that reads): what a bottle still
// may change, which the host keeps back from it.
func (s Store) Undecided(name string) bool {
	data, err := s.folder().ReadFile(RequestsDir + "/" + name)
	if err != nil {
		return true
	}
	var r struct {
		Status string `json:"status"`
	}
	return json.Unmarshal(data, &r) != nil || r.Status == "" || r.Status == StatusPending
}
