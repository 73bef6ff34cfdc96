package supervise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// MaxBody bounds one MCP message from the agent.
const MaxBody = 256 << 10

// Server is the supervise server, the agent's MCP endpoint (run in the egress
// proxy's container, on the supervise folder).
type Server struct {
	Store Store
	// Wait bounds how long a tool call waits for a decision before it
	// answers "pending" with the request id.
	Wait time.Duration
}

// EgressArgs are request_egress's arguments.
type EgressArgs struct {
	Host   string `json:"host" jsonschema:"the host name to reach, such as registry.npmjs.org"`
	Ports  []int  `json:"ports,omitempty" jsonschema:"ports, default 443"`
	Reason string `json:"reason" jsonschema:"why the work needs it, for the person deciding"`
}

// CapabilityArgs are request_capability's arguments: a whole Containerfile,
// or lines to add to the current one.
type CapabilityArgs struct {
	Containerfile string `json:"containerfile,omitempty" jsonschema:"the whole new Containerfile for this bottle"`
	Addition      string `json:"addition,omitempty" jsonschema:"or: lines to add at the end of the current Containerfile, such as RUN apt-get install -y jq"`
	Reason        string `json:"reason" jsonschema:"why the work needs it"`
}

// StatusArgs are request_status's arguments.
type StatusArgs struct {
	ID string `json:"id" jsonschema:"the request id an earlier call returned"`
}

// NotifyArgs are notify's arguments.
type NotifyArgs struct {
	Message string `json:"message" jsonschema:"what the person should know"`
}

// Outcome is what a request tool returns.
type Outcome struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// NoArgs is for tools without arguments.
type NoArgs struct{}

var hostName = regexp.MustCompile(`^(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$`)

// checkHost refuses what no route could name: a host is a lower-case name
// (one label, such as localhost, included: the person is told it reaches
// this machine), or an IP address.
func checkHost(h string) error {
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil || hostName.MatchString(h) {
		return nil
	}
	if strings.ToLower(h) != h {
		return fmt.Errorf("host %q is not written in lower case", h)
	}
	return fmt.Errorf("host %q is neither a host name (letters, digits, - and dots) nor an IP address", h)
}

// MCP builds the MCP server with the bottle's tools.
func (s *Server) MCP() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "bottle-supervise", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "current_config", Description: "Read this bottle's configuration: its Containerfile and egress routes (credential names only). Read-only."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ NoArgs) (*mcp.CallToolResult, map[string]any, error) {
			data, err := os.ReadFile(filepath.Join(s.Store.Dir, ConfigFile))
			if err != nil {
				return nil, nil, fmt.Errorf("read the configuration: %w", err)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(data)}}}, nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "request_egress", Description: "Ask the person supervising this bottle to let it reach a host it may not reach now. Waits a while for the decision; otherwise answers pending with an id for request_status."},
		func(ctx context.Context, _ *mcp.CallToolRequest, a EgressArgs) (*mcp.CallToolResult, Outcome, error) {
			if err := checkHost(a.Host); err != nil {
				return nil, Outcome{}, err
			}
			if len(a.Ports) == 0 {
				a.Ports = []int{443}
			}
			for _, p := range a.Ports {
				if p < 1 || p > 65535 {
					return nil, Outcome{}, fmt.Errorf("port %d is out of range", p)
				}
			}
			return s.ask(ctx, &Request{Kind: KindEgress, Host: a.Host, Ports: a.Ports, Reason: a.Reason})
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "request_capability", Description: "Ask for a change to this bottle's image: give the whole new Containerfile and the reason. If approved, the bottle restarts with it and the conversation carries on."},
		func(ctx context.Context, _ *mcp.CallToolRequest, a CapabilityArgs) (*mcp.CallToolResult, Outcome, error) {
			cf, err := s.proposed(a)
			if err != nil {
				return nil, Outcome{}, err
			}
			return s.ask(ctx, &Request{Kind: KindCapability, Containerfile: cf, Reason: a.Reason})
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "request_status", Description: "The status of an earlier request: pending, approved or denied, with the person's reason."},
		func(ctx context.Context, _ *mcp.CallToolRequest, a StatusArgs) (*mcp.CallToolResult, Outcome, error) {
			r, err := s.Store.Get(a.ID)
			if err != nil {
				return nil, Outcome{}, err
			}
			return result(r)
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "notify", Description: "Leave a message for the person supervising this bottle."},
		func(ctx context.Context, _ *mcp.CallToolRequest, a NotifyArgs) (*mcp.CallToolResult, Outcome, error) {
			r := &Request{ID: NewID(), Kind: KindNotify, Message: a.Message, Status: StatusNoted, CreatedAt: time.Now().UTC()}
			if err := s.Store.Create(r); err != nil {
				return nil, Outcome{}, err
			}
			return result(r)
		})
	return srv
}

// proposed is the Containerfile a capability request asks for: the one given,
// or the current one (FROM the current image when the profile has none) plus
// the addition.
func (s *Server) proposed(a CapabilityArgs) (string, error) {
	switch {
	case (a.Containerfile == "") == (a.Addition == ""):
		return "", errors.New("give either containerfile or addition")
	case a.Containerfile != "":
		return a.Containerfile, nil
	}
	var cc currentConfig
	data, err := os.ReadFile(filepath.Join(s.Store.Dir, ConfigFile))
	if err != nil {
		return "", fmt.Errorf("read the current configuration: %w", err)
	}
	if err := json.Unmarshal(data, &cc); err != nil {
		return "", fmt.Errorf("read the current configuration: %w", err)
	}
	base := cc.Containerfile
	if base == "" {
		base = "FROM " + cc.Image + "\n"
	}
	if !strings.HasSuffix(base, "\n") {
		base += "\n"
	}
	return base + strings.TrimSpace(a.Addition) + "\n", nil
}

// ask files a request and waits, bounded, for the decision.
func (s *Server) ask(ctx context.Context, r *Request) (*mcp.CallToolResult, Outcome, error) {
	r.ID, r.Status, r.CreatedAt = NewID(), StatusPending, time.Now().UTC()
	if err := s.Store.Create(r); err != nil {
		return nil, Outcome{}, err
	}
	deadline := time.Now().Add(s.Wait)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, Outcome{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		cur, err := s.Store.Get(r.ID)
		if err == nil && cur.Status != StatusPending {
			return result(cur)
		}
	}
	return result(r)
}

func result(r *Request) (*mcp.CallToolResult, Outcome, error) {
	o := Outcome{ID: r.ID, Status: r.Status, Reason: r.Decision}
	var text string
	switch r.Status {
	case StatusApproved:
		text = fmt.Sprintf("Request %s was approved.", r.ID)
		if r.Kind == KindCapability {
			text += " The bottle will now stop and restart with the new image; your conversation carries on after it."
		}
	case StatusDenied:
		text = fmt.Sprintf("Request %s was denied by the person supervising this bottle: %s. Do not retry it; work without it or ask differently.", r.ID, orNone(r.Decision))
	case StatusNoted:
		text = "Your message was delivered."
	default:
		text = fmt.Sprintf("Request %s is pending: no decision yet. Ask request_status with this id later.", r.ID)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, o, nil
}

func orNone(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

// Serve listens on addr until ctx ends.
func (s *Server) Serve(ctx context.Context, addr string) error {
	m := s.MCP()
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return m }, nil)
	mux := http.NewServeMux()
	mux.Handle("/mcp", http.MaxBytesHandler(h, MaxBody))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := os.WriteFile(filepath.Join(s.Store.Dir, ReadyFile), []byte(addr+"\n"), 0o644); err != nil {
		return err
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
