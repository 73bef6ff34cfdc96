package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/pod"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/urfave/cli/v2"
)

func newDashboardCommand(g *globals) *cli.Command {
	return &cli.Command{
		Name:  "dashboard",
		Usage: "watch every bottle, and decide what their agents ask for, in one screen",
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 0); err != nil {
				return err
			}
			return runDashboard(c.Context, g)
		},
	}
}

func runDashboard(ctx context.Context, g *globals) error {
	return withConn(ctx, func(conn *pod.Conn, root state.Root) error { return dashboardOn(ctx, g, conn, root) })
}

func dashboardOn(ctx context.Context, g *globals, conn *pod.Conn, root state.Root) error {
	ti := textinput.New()
	ti.Placeholder = "why (the agent reads this)"
	ti.CharLimit = 200
	m := &dashboard{ctx: ctx, conn: conn, root: root, reason: ti, resumed: map[string]bool{}, config: g.config}
	m.refresh()
	_, err := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx), tea.WithInput(g.stdin), tea.WithOutput(g.stdout)).Run()
	if err == tea.ErrProgramKilled && ctx.Err() != nil {
		return nil
	}
	return err
}

// Panes that take the cursor.
const (
	paneBottles = iota
	paneRequests
)

type dashboard struct {
	ctx  context.Context
	conn *pod.Conn
	root state.Root

	bottles  []bottleRow
	requests []bottleRequest
	audit    []string // the selected bottle's last egress decisions
	pushes   []string // and its git gate's last ref decisions
	err      error

	pane    int
	bottleI int
	reqI    int
	status  string // the last action's outcome
	width   int
	height  int

	resumed map[string]bool // preserve reasons this dashboard has resumed already
	config  string          // --config, passed on to a resume it starts

	denying bool // the reason prompt is open
	reason  textinput.Model
	viewing string // a capability request's diff, shown full screen
}

type tick struct{}

func every() tea.Cmd { return tea.Tick(time.Second, func(time.Time) tea.Msg { return tick{} }) }

func (m *dashboard) Init() tea.Cmd { return every() }

// refresh reads bottles from Podman and state, requests from every
// bottle's supervise folder, and the selected bottle's audit tail.
func (m *dashboard) refresh() {
	rows, err := listBottles(m.ctx, m.conn, m.root)
	m.err = err
	if err == nil {
		m.bottles = rows // a hiccup of Podman's keeps what was shown, with the error
	}
	m.requests = m.requests[:0]
	for _, b := range m.bottles {
		if b.State == "" {
			continue
		}
		reqs, _ := (supervise.Store{Dir: filepath.Join(b.State, supervise.Service)}).List()
		for _, r := range reqs {
			if r.Status == supervise.StatusPending {
				m.requests = append(m.requests, bottleRequest{Identity: b.Identity, Request: r})
			}
		}
	}
	m.autoResume()
	m.bottleI = clamp(m.bottleI, len(m.bottles))
	m.reqI = clamp(m.reqI, len(m.requests))
	m.audit, m.pushes = nil, nil
	if b := m.selectedBottle(); b != nil && b.State != "" {
		m.audit = tail(filepath.Join(b.State, egress.Service, egress.AuditFile), 6)
		m.pushes = gitgate.AuditTail(filepath.Join(b.State, gitgate.Service), 3)
	}
}

// autoResume resumes, detached, each bottle whose profile asks for it and
// that was torn down for an approved image change, once per change.
func (m *dashboard) autoResume() {
	for _, r := range m.bottles {
		if r.Status != statusPreserved || r.State == "" {
			continue
		}
		b := &state.Bottle{ID: r.Identity, Dir: r.State}
		reason := b.PreserveReason()
		if !strings.HasPrefix(reason, "capability ") || m.resumed[r.Identity+" "+reason] {
			continue
		}
		if meta, err := b.Metadata(); err != nil || !meta.AutoResume {
			continue
		}
		m.resumed[r.Identity+" "+reason] = true
		exe, err := os.Executable()
		if err != nil {
			m.status = "error: " + err.Error()
			continue
		}
		args := []string{"resume", "--yes", "--detach", r.Identity}
		if m.config != "" {
			args = append([]string{"--config", m.config}, args...)
		}
		out, err := exec.CommandContext(m.ctx, exe, args...).CombinedOutput()
		if err != nil {
			m.status = fmt.Sprintf("error: resume %s: %s", r.Identity, lastLineOf(out))
			continue
		}
		m.status = "resumed " + r.Identity + " with its new image"
	}
}

func lastLineOf(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// bottle is the row's state folder, or nil for a pod whose state is gone.
func (r *bottleRow) bottle() *state.Bottle {
	if r.State == "" {
		return nil
	}
	return &state.Bottle{ID: r.Identity, Dir: r.State}
}

func clamp(i, n int) int {
	if i >= n {
		i = n - 1
	}
	return max(i, 0)
}

func (m *dashboard) selectedBottle() *bottleRow {
	if len(m.bottles) == 0 {
		return nil
	}
	return &m.bottles[m.bottleI]
}

func (m *dashboard) selectedRequest() *bottleRequest {
	if len(m.requests) == 0 {
		return nil
	}
	return &m.requests[m.reqI]
}

func (m *dashboard) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tick:
		m.refresh()
		return m, every()
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil
	case tea.KeyMsg:
		if m.denying {
			return m.updateDeny(msg)
		}
		if m.viewing != "" {
			if msg.String() == "esc" || msg.String() == "q" || msg.String() == "v" {
				m.viewing = ""
			}
			return m, nil
		}
		return m.updateKey(msg)
	}
	return m, nil
}

func (m *dashboard) updateKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "q", "ctrl+c":
		return m, tea.Quit
	case "tab":
		m.pane = (m.pane + 1) % 2
	case "up", "k":
		m.move(-1)
	case "down", "j":
		m.move(1)
	case "a":
		if r := m.selectedRequest(); r != nil {
			m.act(decide(m.ctx, r.Identity, r.ID, supervise.StatusApproved, &decideOptions{}))
		}
	case "d":
		if m.selectedRequest() != nil {
			m.denying = true
			m.reason.SetValue("")
			m.reason.Focus()
			return m, textinput.Blink
		}
	case "v":
		if r := m.selectedRequest(); r != nil && r.Kind == supervise.KindCapability {
			m.viewing = containerfileDiff(r)
		}
	case "s":
		if b := m.selectedBottle(); b != nil {
			var said strings.Builder
			err := stopBottle(m.ctx, m.conn, b.bottle(), b.Identity, &said)
			m.act("stopped "+b.Identity+"; carry on with: bottle resume "+b.Identity+"\n"+said.String(), err)
		}
	case "x":
		if b := m.selectedBottle(); b != nil {
			var said strings.Builder
			err := removeBottle(m.ctx, m.conn, b.bottle(), b.Identity, &said)
			m.act("removed "+b.Identity+"\n"+said.String(), err)
		}
	case "r":
		m.refresh()
	}
	return m, nil
}

func (m *dashboard) updateDeny(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "esc":
		m.denying = false
		return m, nil
	case "enter":
		m.denying = false
		if r := m.selectedRequest(); r != nil {
			m.act(decide(m.ctx, r.Identity, r.ID, supervise.StatusDenied, &decideOptions{reason: m.reason.Value()}))
		}
		return m, nil
	}
	var cmd tea.Cmd
	m.reason, cmd = m.reason.Update(msg)
	return m, cmd
}

func (m *dashboard) move(d int) {
	if m.pane == paneBottles {
		m.bottleI = clamp(m.bottleI+d, len(m.bottles))
	} else {
		m.reqI = clamp(m.reqI+d, len(m.requests))
	}
	m.refresh()
}

func (m *dashboard) act(msg string, err error) {
	if err != nil {
		m.status = printable("error: "+err.Error(), false)
	} else {
		m.status = printable(strings.ReplaceAll(msg, "\n", "; "), false)
	}
	m.refresh()
}

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
	if m.viewing != "" {
		return m.viewing + "\n" + dim.Render("esc: back")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %d bottles, %d pending requests\n", title.Render("bottle dashboard"), len(m.bottles), len(m.requests))
	if m.err != nil {
		b.WriteString(refused.Render("podman: "+m.err.Error()) + "\n")
	}
	b.WriteString(header.Render(fit("  IDENTITY         AGENT     STATUS      AGE  WORKDIR", width)) + "\n")
	for i, r := range m.bottles {
		status := r.Status
		if r.Status == statusPreserved {
			status = "kept"
		}
		where := r.Workdir
		if r.Status == statusPreserved {
			where = "bottle resume " + r.Identity
		}
		line := fit(fmt.Sprintf("%-16s %-9s %-11s %4s %s", r.Identity, r.Agent, status, age(r.StartedAt), where), width-2)
		b.WriteString(m.mark(paneBottles, i == m.bottleI, line) + "\n")
	}
	b.WriteString(header.Render(fit("PENDING REQUESTS", width)) + "\n")
	if len(m.requests) == 0 {
		b.WriteString(dim.Render("  none") + "\n")
	}
	for i, r := range m.requests {
		line := fit(fmt.Sprintf("%s %-14s %-10s %s: %s", printable(r.ID, false), r.Identity, printable(r.Kind, false), requestWhat(r.Request), oneLine(r.Reason, 80)), width-2)
		b.WriteString(m.mark(paneRequests, i == m.reqI, line) + "\n")
	}
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
	if m.denying {
		b.WriteString("deny reason: " + m.reason.View() + "\n")
	}
	if m.status != "" {
		b.WriteString(fit(m.status, width) + "\n")
	}
	b.WriteString(dim.Render(fit("tab pane  ↑↓ move  a approve  d deny  v diff  s stop  x remove  q quit", width)))
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

// fit cuts a line to the screen's width.
func fit(s string, width int) string {
	r := []rune(s)
	if len(r) > width {
		return string(r[:width-1]) + "…"
	}
	return s
}

// tail returns the last n audit decisions of a file, one line each.
func tail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			Time     time.Time `json:"time"`
			Method   string    `json:"method"`
			Host     string    `json:"host"`
			Path     string    `json:"path"`
			Decision string    `json:"decision"`
			Reason   string    `json:"reason"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		lines = append(lines, printable(fmt.Sprintf("%s %s %s %s%s  %s", e.Time.Local().Format("15:04:05"), e.Decision, e.Method, e.Host, e.Path, e.Reason), false))
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}

// containerfileDiff shows a capability request as a diff against the
// bottle's current Containerfile.
func containerfileDiff(r *bottleRequest) string {
	cur := ""
	var cc struct{ Containerfile string }
	if b, err := os.ReadFile(filepath.Join(stateDirOf(r.Identity), supervise.Service, supervise.ConfigFile)); err == nil {
		json.Unmarshal(b, &cc)
		cur = cc.Containerfile
	}
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(cur), B: difflib.SplitLines(r.Containerfile),
		FromFile: "current", ToFile: "requested by " + r.Identity + " (" + r.ID + ")", Context: 3,
	})
	return title.Render("Containerfile change "+printable(r.ID, false)) + "\nreason: " + oneLine(r.Reason, 200) + "\n\n" + printable(d, true)
}

func stateDirOf(id string) string {
	root, err := state.DefaultRoot()
	if err != nil {
		return ""
	}
	return filepath.Join(root.Dir, id)
}
