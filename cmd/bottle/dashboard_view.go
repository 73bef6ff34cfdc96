package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/jsonl"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/pmezard/go-difflib/difflib"
)

var (
	title    = lipgloss.NewStyle().Bold(true)
	header   = lipgloss.NewStyle().Bold(true).Underline(true)
	selected = lipgloss.NewStyle().Reverse(true)
	refused  = lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)
	dim      = lipgloss.NewStyle().Faint(true)
)

func (m *dashboard) View() string {
	width := m.width
	if width == 0 {
		width = 80
	}
	if m.diff != nil {
		return m.diff.view()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s, %s\n", title.Render("bottle dashboard"), count(len(m.bottles), "bottle"), count(len(m.requests), "pending request"))
	if m.err != nil {
		b.WriteString(refused.Render(fit(printable("podman: "+m.err.Error(), false), width)) + "\n")
	}
	b.WriteString(header.Render(fit("  IDENTITY         AGENT     STATUS      AGE  WORKDIR", width)) + "\n")
	for i, r := range m.bottles {
		status, where := r.Status, r.Workdir
		if doing := m.busy[r.Identity]; doing != "" {
			status = doing + "…"
		}
		if r.Status == lifecycle.StatusKept {
			where = resumeHint(r.Identity)
		}
		if r.Where != "" && r.Where != m.local {
			where = "[" + r.Where + "] " + where
		}
		line := fit(printable(fmt.Sprintf("%-16s %-9s %-11s %4s %s", r.Identity, r.Agent, status, age(r.StartedAt), where), false), width-2)
		b.WriteString(m.mark(paneBottles, i == m.bottleI, line) + "\n")
	}
	heading := "PENDING REQUESTS"
	for _, r := range m.requests {
		if lifecycle.LocalNote(r.Request) != "" {
			heading += "  (⚠ reaches this machine or its network)"
			break
		}
	}
	b.WriteString(header.Render(fit(heading, width)) + "\n")
	if len(m.requests) == 0 {
		b.WriteString(dim.Render("  none") + "\n")
	}
	for i, r := range m.requests {
		what := printable(r.Kind, false) + " " + requestWhat(r.Request)
		if lifecycle.LocalNote(r.Request) != "" {
			what = "⚠ " + what
		}
		line := fit(fmt.Sprintf("%s %-14s %s: %s", shortID(printable(r.ID, false)), r.Identity, what, oneLine(r.Reason, 80)), width-2)
		b.WriteString(m.mark(paneRequests, i == m.reqI, line) + "\n")
	}
	var tail strings.Builder
	if m.denying {
		tail.WriteString("deny reason: " + m.reason.View() + "\n")
	}
	if a := m.approving; a != nil {
		tail.WriteString(m.approvePrompt(a, width))
	}
	if r := m.removing; r != nil {
		// Whole, on as many lines as it takes: it says what goes for good.
		tail.WriteString(title.Render(wrapLines(removePrompt(r), width)) + "\n")
	}
	if m.status != "" {
		tail.WriteString(fit(m.status, width) + "\n")
	}
	if m.showDetails {
		avail := 0
		if m.height > 0 {
			// What the screen has left above the prompts and the key line.
			avail = max(m.height-strings.Count(b.String(), "\n")-strings.Count(tail.String(), "\n")-1, 1)
		}
		for _, l := range m.detailPane(width, avail) {
			b.WriteString(l + "\n")
		}
	} else {
		m.auditTails(&b, width)
	}
	b.WriteString(tail.String())
	b.WriteString(dim.Render(fit("tab pane  ↑↓ move  a approve  d deny  v diff  i info  s stop  x remove  q quit", width)))
	return b.String()
}

// auditTails are the selected bottle's last egress and git gate decisions.
func (m *dashboard) auditTails(b *strings.Builder, width int) {
	if sb := m.selectedBottle(); sb != nil {
		b.WriteString(header.Render(fit("EGRESS "+sb.Identity, width)) + "\n")
		for _, l := range m.audit {
			if strings.Contains(l, " deny ") {
				b.WriteString(refused.Render(fit(l, width)) + "\n")
			} else {
				b.WriteString(fit(l, width) + "\n")
			}
		}
	}
	if sb := m.selectedBottle(); sb != nil && len(m.pushes) > 0 {
		b.WriteString(header.Render(fit("GIT PUSHES "+sb.Identity, width)) + "\n")
		for _, l := range m.pushes {
			l = printable(l, false)
			if strings.Contains(l, " refused ") {
				b.WriteString(refused.Render(fit(l, width)) + "\n")
			} else {
				b.WriteString(fit(l, width) + "\n")
			}
		}
	}
}

// shortID is a request id as a list shows it: its first 9 characters, as
// git shows commits (the approval prompt shows it whole).
func shortID(id string) string {
	if len(id) > 9 {
		return id[:9]
	}
	return id
}

// approvePrompt names what the approval is for, and the key that confirms it.
// What y approves is shown whole, on as many lines as it takes: cut to the
// screen's width it would name a prefix of a host (registry.npmjs.org.…),
// whose end says whose it is, and hide ports after it.
func (m *dashboard) approvePrompt(a *approval, width int) string {
	var b strings.Builder
	b.WriteString(title.Render(wrapLines("approve "+printable(a.id, false)+" of "+a.identity+": "+a.what+"?", width)) + "\n")
	switch {
	case a.local != "" && a.sure:
		b.WriteString(refused.Render(wrapLines("it reaches THIS MACHINE OR ITS NETWORK ("+a.local+")", width)) + "\n")
		b.WriteString(fit("Y (shift-y) approves it anyway; any other key cancels", width) + "\n")
	default:
		b.WriteString(fit("y approves; any other key cancels", width) + "\n")
	}
	return b.String()
}

// mark puts a row behind a gutter: "›" marks the selection of each pane,
// and the pane that has the keys shows it in reverse.
func (m *dashboard) mark(pane int, sel bool, line string) string {
	switch {
	case sel && m.pane == pane:
		return selected.Render("› " + line)
	case sel:
		return "› " + line
	default:
		return "  " + line
	}
}

// fit cuts a line to the screen's width, in the columns the terminal counts.
func fit(s string, width int) string {
	return ansi.Truncate(s, width, "…")
}

// tailWindow is how much of the end of an audit log tail reads: more than
// the lines it shows take (each at most tens of KiB, egress.MaxAuditText).
const tailWindow = 4 << 20

// tail returns the last n audit decisions of a file of a sidecar's folder
// (read through internal/beneath: the sidecar writes it), one line each.
func tail(dir beneath.Dir, rel string, n int) []string {
	f, err := dir.Open(rel)
	if err != nil {
		return nil
	}
	defer f.Close()
	// Only the log's end is read: the agent makes it as long as it likes,
	// and this is read with every refresh, the pending requests' with it.
	r, err := jsonl.End(f, tailWindow)
	if err != nil {
		return nil
	}
	var lines []string
	// A line longer than the proxy writes is passed over, and what follows
	// it shown: the agent chooses what a line quotes (a request's path).
	jsonl.Each(r, egress.MaxAuditLine, func(line []byte) {
		var e struct {
			Time     time.Time `json:"time"`
			Method   string    `json:"method"`
			Host     string    `json:"host"`
			Path     string    `json:"path"`
			Decision string    `json:"decision"`
			Reason   string    `json:"reason"`
		}
		if json.Unmarshal(line, &e) != nil {
			return
		}
		lines = append(lines, printable(fmt.Sprintf("%s %s %s %s%s  %s", e.Time.Local().Format("15:04:05"), e.Decision, e.Method, e.Host, e.Path, e.Reason), false))
		if len(lines) > n {
			lines = lines[1:]
		}
	})
	return lines
}

// containerfileDiff shows a capability request as a diff against the
// bottle's current Containerfile, then as the next start would read it:
// its steps, and what that start would refuse.
func containerfileDiff(root state.Root, r *bottleRequest) string {
	cur := ""
	var cc struct{ Containerfile string }
	if b, err := root.Bottle(r.Identity).SuperviseFolder().ReadFile(supervise.ConfigFile); err == nil {
		json.Unmarshal(b, &cc)
		cur = cc.Containerfile
	}
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(cur), B: difflib.SplitLines(r.Containerfile),
		FromFile: "current", ToFile: "requested by " + r.Identity + " (" + r.ID + ")", Context: 3,
	})
	check := lifecycle.CheckCapability(root.Bottle(r.Identity), r.Request)
	verdict := "checked: it keeps to what an isolated build allows"
	if check.Blocked {
		verdict = refused.Render("the next start refuses it: it cannot be approved")
	} else if len(check.Refusals) > 0 {
		verdict = refused.Render("its FROM is not allowed yet: the next start refuses it unless your config's build_from lists it")
	}
	return title.Render("Containerfile change "+printable(r.ID, false)) + "\nreason: " + oneLine(r.Reason, 200) + "\n" + verdict + "\n\n" +
		visibleDiff(d) + "\n" + title.Render("as Podman reads it") + "\n" + strings.Join(buildLines(buildOf(check)), "\n") + "\n"
}

// count is n things, in the singular for one.
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
