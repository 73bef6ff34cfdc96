package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/containerfile"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"golang.org/x/term"
)

// printPreflight shows, compactly, what the bottle will be.
func printPreflight(w io.Writer, pf lifecycle.Preflight) error {
	a, p, workdir, gate := pf.Agent, pf.Plan, pf.Workdir, pf.Gate
	m := p.Main()
	head := strings.TrimSpace(pf.Engine.Name + " " + pf.Engine.Version)
	if pf.Engine.Where != "" {
		head += ", " + pf.Engine.Where
	}
	fmt.Fprintf(w, "bottle %s  (%s)\n", pf.ID, head)
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "  %-10s %s\n", k, fmt.Sprintf(format, args...)) }
	row("agent", "%s: %s", a.Name, commandLine(m.Command))
	image := m.Image.Ref
	if m.Image.Containerfile != "" && m.Image.Isolated {
		image += " (built from " + pf.BuiltFrom() + " with no network and local images only: not a Containerfile of your own config)"
	} else if m.Image.Containerfile != "" {
		image += " (built from " + pf.BuiltFrom() + ")"
	}
	if pf.Image != nil {
		image += "; " + pf.Image.String()
	}
	row("image", "%s", image)
	missing := func(name string) bool {
		found := false
		for _, ms := range pf.Missing {
			if ms.Row == name {
				row(name, "MISSING: %s", ms.Why)
				found = true
			}
		}
		return found
	}
	missing("image")
	// An isolated build's steps as Podman reads them, each by its line, what
	// would not show as itself escaped: what is built is what is shown.
	if f := pf.Build; f != nil {
		for _, in := range f.Instructions {
			row("step", "%d: %s", in.Line, containerfile.Show(in))
		}
	}
	row("runtime", "%s", a.Runtime)
	if a.Workspace == config.WorkspaceCopy {
		row("workspace", "copy of %s (the host tree stays untouched) -> %s", workdir, m.Mounts[0].Target)
	} else {
		row("workspace", "bind %s -> %s", workdir, m.Mounts[0].Target)
	}
	for _, mt := range m.Mounts[1:] {
		ro := ""
		if mt.ReadOnly {
			ro = " (read-only)"
		}
		row("mount", "%s -> %s%s", pf.Shown(mt.Source), mt.Target, ro)
	}
	if missing("signin") {
	} else if si := pf.Signin; si != nil {
		row("signin", "%s: %s from %s (the bottle holds a placeholder)", a.Signin.Agent, si.Use, si.Source)
	}
	if len(a.Setup) > 0 {
		row("setup", "~/%s from your home, at the first start (never a login)", strings.Join(a.Setup, ", ~/"))
	}
	for _, rel := range slices.Sorted(maps.Keys(a.HomeFiles)) {
		row("home", "~/%s (written at each start)", rel)
	}
	row("network", "none (loopback only); out only through the egress proxy")
	if len(a.Egress) == 0 && len(pf.Approved) == 0 {
		row("egress", "no routes: every request is refused")
	}
	for _, r := range a.Egress {
		row("egress", "%s", routeLine(r))
	}
	for _, r := range pf.Approved {
		row("egress", "%s", approvedLine(r))
	}
	for _, r := range a.BuildEgress {
		row("build", "%s (for a build of a Containerfile not of your config)", routeLine(r))
	}
	if gate == nil {
		row("git", "no remote: no git gate")
	} else {
		for _, r := range gate.Config.Remotes {
			row("git", "%s", gateLine(r, gate.Hosts[r.Name], gate.Credentials[r.Name], gate.Notes[r.Name]))
		}
	}
	if len(a.FromWorkdir) > 0 {
		row("workdir", "%s sets %s (checked: it may only narrow, and name files inside it)", filepath.Join(workdir, "bottle.toml"), strings.Join(a.FromWorkdir, ", "))
	}
	if !missing("user") {
		row("user", "%s, all capabilities dropped, no new privileges", m.User)
	}
	row("resources", "%s", resources(a))
	return nil
}

// routeLine shows one route: where, how, and which credential it injects
// (by where it comes from, never its value).
func routeLine(r config.Route) string {
	ports := make([]string, len(r.PortList()))
	for i, p := range r.PortList() {
		ports[i] = strconv.Itoa(p)
	}
	s := r.Host + ":" + strings.Join(ports, ",")
	if len(r.Methods) > 0 {
		s += " " + strings.Join(r.Methods, ",")
	}
	if len(r.Paths) > 0 {
		s += " " + strings.Join(r.Paths, ",")
	}
	if !r.Intercepts() {
		s += " (tunnel)"
	}
	if r.Upstream != "" {
		s += " -> " + r.Upstream
	}
	if c := r.Credential; c != nil {
		s += fmt.Sprintf(", injects %s from %s", c.Carrier(), c.Source())
		if strings.HasPrefix(r.Upstream, "http://") {
			s += " (in plain HTTP, to loopback)"
		}
		if len(r.CredentialHosts) > 0 {
			s += " to " + strings.Join(r.CredentialHosts, ",") + " only"
		}
	}
	if r.WebSocket {
		s += ", websockets"
	}
	if m := r.MCP; m != nil {
		if len(m.Allow) > 0 {
			s += ", mcp tools " + strings.Join(m.Allow, ",")
		}
		if len(m.Deny) > 0 {
			s += ", mcp tools not " + strings.Join(m.Deny, ",")
		}
		if m.AllowCommands {
			s += ", mcp commands allowed"
		}
	}
	if r.Inbound != "" && r.Inbound != config.InboundAuto {
		s += ", inbound " + r.Inbound
	}
	if len(r.DLPOff) > 0 {
		s += ", without " + strings.Join(r.DLPOff, ",")
	}
	return s
}

// approvedLine shows a route a person approved on the agent's request,
// which the bottle keeps: as it was approved, and by whom.
func approvedLine(r lifecycle.ApprovedRoute) string {
	s := routeLine(config.Route{Host: r.Host, Ports: r.Ports, Upstream: r.Upstream}) + " (approved"
	if r.AllowLocal {
		s += " to reach this machine or its network"
	}
	if r.By != "" {
		s += " by " + r.By
	}
	return s + ", request " + r.Request + ")"
}

// gateLine shows one remote behind the git gate: upstream, mode, rules.
func gateLine(r gitgate.Remote, host, credential, note string) string {
	s := fmt.Sprintf("%s %s, %s", r.Name, r.Upstream, r.Mode)
	if r.Mode == config.GitForward && host != "" {
		s += " to " + host
		if credential != "" {
			s += " with your " + credential
		}
	}
	push := "any branch"
	if len(r.Rules.Branches) > 0 {
		push = strings.Join(r.Rules.Branches, ",")
	}
	s += "; push " + push
	if len(r.Rules.Protected) > 0 {
		s += " but " + strings.Join(r.Rules.Protected, ",")
	}
	s += ", no force, no delete"
	if !r.Rules.Tags {
		s += ", no tags"
	}
	if note != "" {
		s += " (" + note + ")"
	}
	return s
}

// commandLine shows a command on one line, quoting what needs it, cut short.
func commandLine(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n\"'$;|&<>*?") {
			a = strconv.Quote(a)
		}
		parts[i] = a
	}
	s := strings.Join(parts, " ")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

func resources(a *config.Agent) string {
	var parts []string
	if a.Memory != "" {
		parts = append(parts, "memory "+a.Memory)
	}
	if a.CPUs > 0 {
		parts = append(parts, fmt.Sprintf("cpus %g", a.CPUs))
	}
	if a.Pids > 0 {
		parts = append(parts, fmt.Sprintf("pids %d", a.Pids))
	}
	if len(parts) == 0 {
		return "unlimited"
	}
	return strings.Join(parts, ", ")
}

// ask asks a yes-or-no question on the terminal; anything but yes is
// lifecycle.ErrDeclined. It reads byte by byte so nothing meant for the agent is
// swallowed into a buffer.
func ask(ctx context.Context, stdin io.Reader, stderr io.Writer, question string) error {
	if !isTerminal(stdin) {
		return errors.New("stdin is not a terminal, so the preflight cannot be confirmed: pass --yes")
	}
	fmt.Fprint(stderr, question)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReaderSize(oneByte{stdin}, 16).ReadString('\n')
		answer <- strings.TrimSpace(strings.ToLower(line))
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(stderr)
		return ctx.Err()
	case a := <-answer:
		if a == "y" || a == "yes" {
			return nil
		}
		return lifecycle.ErrDeclined
	}
}

// isTerminal reports whether a stream (stdin, stdout, stderr) is a terminal.
func isTerminal(s any) bool {
	f, ok := s.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// oneByte reads one byte at a time.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}
