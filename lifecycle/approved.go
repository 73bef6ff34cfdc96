package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/state"
)

// ApprovedRoute is an egress route a person approved on one of the agent's
// requests. It belongs to the bottle: recorded in the bottle's own folder
// (state.ApprovedRoutesFile, which no container mounts, and which an
// engine that keeps the folder apart never brings back from the bottle),
// and every resume brings it back exactly as approved: the host and ports
// the agent asked for, sent to the upstream the person named, if any.
type ApprovedRoute struct {
	Request  string    `json:"request"`
	By       string    `json:"by,omitempty"`
	At       time.Time `json:"at"`
	Host     string    `json:"host"`
	Ports    []int     `json:"ports"`
	Upstream string    `json:"upstream,omitempty"`
	// AllowLocal: the route reaches this machine or its network, and the
	// person said it may (bottle approve --allow-local).
	AllowLocal bool `json:"allow_local,omitempty"`
}

// Route is the route as the proxy and the gateway take it: the same one
// Decide made live.
func (a ApprovedRoute) Route() egress.Route {
	return egress.Route{Host: a.Host, Ports: slices.Clone(a.Ports), Intercept: true, Upstream: a.Upstream}
}

// recordApproved adds a route to the bottle's approved routes.
func recordApproved(b *state.Bottle, a ApprovedRoute) error {
	line, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return b.AppendRecord(state.ApprovedRoutesFile, line)
}

// ApprovedRoutes are the routes a person approved on the bottle's requests,
// in the order approved, each once.
func ApprovedRoutes(b *state.Bottle) ([]ApprovedRoute, error) {
	data, err := b.Record(state.ApprovedRoutesFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []ApprovedRoute
	for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var a ApprovedRoute
		if err := json.Unmarshal(line, &a); err != nil {
			return nil, fmt.Errorf("bottle %s: %s, line %d: %w", b.ID, state.ApprovedRoutesFile, i+1, err)
		}
		if !slices.ContainsFunc(out, func(o ApprovedRoute) bool {
			return o.Host == a.Host && slices.Equal(o.Ports, a.Ports) && o.Upstream == a.Upstream
		}) {
			out = append(out, a)
		}
	}
	return out, nil
}

// routesOf are the approved routes as the proxy and the gateway take them.
func routesOf(approved []ApprovedRoute) []egress.Route {
	out := make([]egress.Route, len(approved))
	for i, a := range approved {
		out[i] = a.Route()
	}
	return out
}
