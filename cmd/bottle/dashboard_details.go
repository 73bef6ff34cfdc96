package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/docker/go-units"
)

// bottleDetails is what the details pane (i) shows of the selected bottle
// beside its row: from its folders, its routes, decisions and egress per
// host (read with each refresh); from the engine, its figures (sampled).
type bottleDetails struct {
	of      string
	rec     *lifecycle.Inspection // routes, decisions; nil when unread
	traffic []egress.HostTraffic
	// tally is traffic's sums as far as the log was read: the next read
	// of the same bottle reads on from there (the agent makes the log as
	// long as it likes, and the pane is read with every refresh).
	tally *egress.Tally
	err   error
}

// sampled is the engine's figures of a bottle, as bottle stats has them.
type sampled struct {
	of  string
	st  *lifecycle.BottleStats
	err error
}

// readDetails reads a bottle's folders for the details pane (through the
// readers of lifecycle, which go through internal/beneath), reading on
// from prev, the last read, when it was of the same bottle.
func readDetails(r lifecycle.Row, prev *bottleDetails) *bottleDetails {
	d := &bottleDetails{of: r.Identity}
	b := r.Bottle()
	if b == nil {
		return d
	}
	if prev != nil && prev.of == r.Identity {
		d.tally = prev.tally
	}
	d.rec, d.err = lifecycle.Recorded(b)
	if d.err == nil {
		d.tally, d.err = lifecycle.TrafficSince(b, d.tally)
		d.traffic = d.tally.Hosts()
	}
	return d
}

func runningRow(r *lifecycle.Row) bool {
	return r != nil && r.State != "" && r.Runs()
}

// sample has the engine's figures of the selected bottle taken in the
// background (a sample lasts a second or more), one at a time, while the
// details pane shows a running bottle.
func (m *dashboard) sample() tea.Cmd {
	b := m.selectedBottle()
	if !m.showDetails || m.sampling || !runningRow(b) || !m.onThisMachine(b) {
		return nil
	}
	m.sampling = true
	ctx, env, id := m.ctx, m.env, b.Identity
	return func() tea.Msg {
		st, err := lifecycle.Stats(ctx, env, []string{id})
		s := sampled{of: id, err: err}
		if err == nil && len(st) == 1 {
			s.st = &st[0]
		}
		return s
	}
}

// detailPane is the details of the selected bottle, in avail lines at most
// (0: no limit): its figures, routes and how to resume it first, then its
// egress per host and its decisions, the latest, sharing what is left.
func (m *dashboard) detailPane(width, avail int) []string {
	sb := m.selectedBottle()
	if sb == nil {
		return nil
	}
	d := m.details
	if d == nil || d.of != sb.Identity {
		return []string{header.Render(fit("DETAILS "+sb.Identity, width)), dim.Render("  reading…")}
	}
	lines := []string{header.Render(fit("DETAILS "+sb.Identity, width)), fit("  "+m.figures(sb), width)}
	if sb.Status == lifecycle.StatusKept {
		lines = append(lines, title.Render(fit("  kept: "+resumeHint(sb.Identity)+" carries on", width)))
	}
	if d.err != nil {
		lines = append(lines, refused.Render(fit("  "+printable(d.err.Error(), false), width)))
	}
	if d.rec != nil {
		lines = append(lines, routeLines(d.rec.Routes, width)...)
	}
	var hosts, decisions []string
	for _, h := range d.traffic {
		hosts = append(hosts, fmt.Sprintf("  %-30s %7d %7d %9s %9s", fit(printable(h.Host, false), 30), h.Allowed, h.Refused, size(h.Sent), size(h.Received)))
	}
	if d.rec != nil {
		for _, a := range d.rec.Approvals {
			line := fmt.Sprintf("  %s %-8s %s %s %s", a.Time.Local().Format("15:04:05"), printable(a.Decision, false), shortID(printable(a.Request, false)), printable(a.Kind, false), printable(a.What, false))
			if a.By != "" {
				line += " by " + printable(a.By, false)
			}
			if a.Reason != "" {
				line += ": " + oneLine(a.Reason, 80)
			}
			decisions = append(decisions, line)
		}
	}
	// What is left: a heading and the busiest hosts, a heading and the
	// latest decisions; each gets half, and what the other leaves.
	left := len(hosts) + len(decisions)
	if avail > 0 {
		left = avail - len(lines) - 2
		if len(hosts) == 0 {
			left-- // its "none yet"
		}
		if len(decisions) == 0 {
			left--
		}
	}
	left = max(left, 0)
	nh := min(len(hosts), max(left/2, left-len(decisions)))
	nd := min(len(decisions), left-nh)
	lines = append(lines, header.Render(fit(fmt.Sprintf("  %-30s %7s %7s %9s %9s", fmt.Sprintf("EGRESS TO (%d hosts)", len(hosts)), "ALLOWED", "REFUSED", "SENT", "RECEIVED"), width)))
	if len(hosts) == 0 {
		lines = append(lines, dim.Render("  none yet"))
	}
	lines = append(lines, fitAll(hosts[:nh], width)...)
	lines = append(lines, header.Render(fit(fmt.Sprintf("  DECISIONS (%d)", len(decisions)), width)))
	if len(decisions) == 0 {
		lines = append(lines, dim.Render("  none yet"))
	}
	lines = append(lines, fitAll(decisions[len(decisions)-nd:], width)...)
	if avail > 0 && len(lines) > avail {
		lines = lines[:avail]
	}
	return lines
}

// figures is the engine's figures of a bottle in one line: the pod's sums,
// then its agent's. On a cluster there are none here: bottle stats names
// the kubectl that has them.
func (m *dashboard) figures(r *lifecycle.Row) string {
	if !runningRow(r) {
		return "cpu, memory: none, it is not running"
	}
	if !m.onThisMachine(r) {
		return "cpu, memory: none from a cluster here (bottle stats " + r.Identity + " says where)"
	}
	s := m.stats
	if s == nil || s.of != r.Identity {
		return "cpu, memory: sampling…"
	}
	if s.err != nil {
		return "cpu, memory: " + printable(s.err.Error(), false)
	}
	var cpu float64
	var mem, pids uint64
	agent, reason := "", ""
	for _, sv := range s.st.Services {
		if sv.Unavailable != "" {
			reason = sv.Unavailable
			continue
		}
		cpu, mem, pids = cpu+sv.CPU, mem+sv.Memory, pids+sv.PIDs
		if sv.Service == "agent" {
			agent = fmt.Sprintf("  (agent %.1f%% %s %d)", sv.CPU, size(int64(sv.Memory)), sv.PIDs)
		}
	}
	if mem == 0 && pids == 0 {
		return "cpu, memory: none: " + printable(reason, false)
	}
	return fmt.Sprintf("cpu %.1f%%  memory %s  processes %d%s", cpu, size(int64(mem)), pids, agent)
}

// routeLines are the bottle's routes, host:ports each, in two lines at
// most, with how many more there are.
func routeLines(routes []egress.Route, width int) []string {
	if len(routes) == 0 {
		return []string{"  routes: none"}
	}
	var lines []string
	line := fmt.Sprintf("  routes (%d):", len(routes))
	for i, r := range routes {
		ports := make([]string, len(r.Ports))
		for j, p := range r.Ports {
			ports[j] = strconv.Itoa(p)
		}
		item := " " + printable(r.Host, false) + ":" + strings.Join(ports, ",")
		if i < len(routes)-1 {
			item += ","
		}
		if len([]rune(line))+len([]rune(item)) > width-1 && len(lines) == 0 {
			lines, line = append(lines, line), "   "
		}
		line += item
	}
	return append(lines, fit(line, width))
}

func fitAll(lines []string, width int) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = fit(l, width)
	}
	return out
}

func size(n int64) string { return units.BytesSize(float64(max(n, 0))) }

// onThisMachine: the bottle runs on this machine's engine, which gives
// figures (a cluster gives none here: bottle stats names kubectl top).
func (m *dashboard) onThisMachine(r *lifecycle.Row) bool {
	return r.Where == "" || r.Where == m.local || m.local == ""
}
