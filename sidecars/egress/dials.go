package egress

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/spec"
)

// Dials are where a gateway holding this policy connects: a route's
// upstream when it has one (the request goes there, not to the route's
// host), else the route's host on each of its ports; and the git gate's
// upstreams. Each once, in the policy's order.
func (p *Policy) Dials() []spec.Dial {
	var out []spec.Dial
	add := func(addr string) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			return
		}
		if d := (spec.Dial{Host: host, Port: n}); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	for i := range p.Routes {
		r := &p.Routes[i]
		if r.Upstream != "" {
			dest, _ := r.Destination("", 0)
			add(dest)
			continue
		}
		for _, port := range r.Ports {
			add(net.JoinHostPort(r.Host, strconv.Itoa(port)))
		}
	}
	for _, g := range p.Git {
		add(g)
	}
	return out
}

// DialsOf are the dials of a profile's routes, the routes a person approved
// and the git gate's upstreams (host:port), as the policy Prepare writes of
// them has them.
func DialsOf(routes []config.Route, approved []Route, git []string) []spec.Dial {
	p := Policy{Git: git}
	for _, r := range routes {
		p.Routes = append(p.Routes, Route{Host: r.Host, Ports: r.PortList(), Upstream: r.Upstream})
	}
	p.Routes = append(p.Routes, approved...)
	return p.Dials()
}

// GatewayDials are the dials of the policy in a gateway's folder, as the
// bottle's start and the approvals since left it.
func GatewayDials(gatewayDir string) ([]spec.Dial, error) {
	data, err := beneath.At(gatewayDir).ReadFile(RoutesFile)
	if err != nil {
		return nil, fmt.Errorf("read routes: %w", err)
	}
	var p Policy
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("read routes %s: %w", gatewayDir, err)
	}
	return p.Dials(), nil
}
