package supervise

import (
	"fmt"
	"time"
)

// Reports files what the egress proxy withholds from MCP servers: a
// changed definition as a request the person approves or denies, one
// withheld on sight as a note. It is the proxy's egress.Reporter.
type Reports struct{ Store Store }

// Changed files a request to approve a changed definition.
func (r Reports) Changed(server, kind, name, was, now string) (string, error) {
	req := &Request{
		ID: NewID(), Kind: KindMCPTool, Status: StatusPending, CreatedAt: time.Now().UTC(),
		Host:    server,
		Reason:  fmt.Sprintf("The MCP server %s changed its %s %q during the session; the proxy withholds it, and refuses calls to it, until you approve the new definition.", server, kind, name),
		Message: fmt.Sprintf("was: %s\nnow: %s", was, now),
	}
	if err := r.Store.Create(req); err != nil {
		return "", err
	}
	return req.ID, nil
}

// Withheld notes a definition withheld on sight.
func (r Reports) Withheld(server, kind, name, why string) error {
	return r.Store.Create(&Request{
		ID: NewID(), Kind: KindNotify, Status: StatusNoted, CreatedAt: time.Now().UTC(), Host: server,
		Message: fmt.Sprintf("The egress proxy withheld the %s %q of the MCP server %s from the agent: its definition holds instructions aimed at the agent (%s).", kind, name, server, why),
	})
}

// Approved reports whether the person approved the request.
func (r Reports) Approved(id string) bool {
	req, err := r.Store.Get(id)
	return err == nil && req.Status == StatusApproved
}
