package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/pod"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
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
	diff    *diffPager // a capability request's diff, shown full screen
	// approving is an approval waiting for its confirmation key: it names
	// the request chosen when a was pressed, whatever the list shows since.
	approving *approval
}

// approval is an approval the person has asked for and not yet confirmed.
type approval struct {
	identity, id, what string
	local              string // why it reaches this machine or its network; "" when it does not
	sure               bool   // the first confirmation is given; local ones need a second
}

type tick struct{}

func every() tea.Cmd { return tea.Tick(time.Second, func(time.Time) tea.Msg { return tick{} }) }

func (m *dashboard) Init() tea.Cmd { return every() }

// refresh reads bottles from Podman and state, requests from every
// bottle's supervise folder, and the selected bottle's audit tail.
func (m *dashboard) refresh() {
	selBottle, selReq := "", ""
	if b := m.selectedBottle(); b != nil {
		selBottle = b.Identity
	}
	if r := m.selectedRequest(); r != nil {
		selReq = r.Identity + " " + r.ID
	}
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
		reqs, _ := (supervise.Store{Dir: b.bottle().SuperviseDir()}).List()
		for _, r := range reqs {
			if r.Status == supervise.StatusPending {
				m.requests = append(m.requests, bottleRequest{Identity: b.Identity, Request: r})
			}
		}
	}
	m.autoResume()
	// The selection stays on the same bottle and request, wherever a
	// refresh puts them.
	m.bottleI = clamp(indexOf(m.bottles, func(r bottleRow) bool { return r.Identity == selBottle }, m.bottleI), len(m.bottles))
	m.reqI = clamp(indexOf(m.requests, func(r bottleRequest) bool { return r.Identity+" "+r.ID == selReq }, m.reqI), len(m.requests))
	m.audit, m.pushes = nil, nil
	if b := m.selectedBottle(); b != nil && b.State != "" {
		m.audit = tail(egress.AuditPath(b.bottle().EgressDir()), 6)
		m.pushes = gitgate.AuditTail(b.bottle().GitGateDir(), 3)
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

// indexOf is the index of the first element that is, or else def.
func indexOf[T any](list []T, is func(T) bool, def int) int {
	for i, x := range list {
		if is(x) {
			return i
		}
	}
	return def
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
		if m.diff != nil {
			m.diff.resize(m.width, m.height)
		}
		return m, nil
	case tea.KeyMsg:
		if m.denying {
			return m.updateDeny(msg)
		}
		if m.diff != nil {
			if msg.String() == "esc" || msg.String() == "q" || msg.String() == "v" {
				m.diff = nil
				return m, nil
			}
			m.diff.key(msg)
			return m, nil
		}
		if m.approving != nil {
			return m.updateApprove(msg)
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
			a := &approval{identity: r.Identity, id: r.ID, what: printable(r.Kind, false) + " " + requestWhat(r.Request)}
			a.local = localNote(r.Request)
			m.approving = a
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
			m.diff = newDiffPager(containerfileDiff(r), m.width, m.height)
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

// updateApprove takes the confirmation of an approval: y, then for what
// reaches this machine or its network, Y as well. Any other key cancels.
func (m *dashboard) updateApprove(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	a := m.approving
	switch {
	case msg.String() == "y" && !a.sure && a.local != "":
		a.sure = true
		return m, nil
	case (msg.String() == "y" && a.local == "") || (msg.String() == "Y" && a.sure):
		m.approving = nil
		m.act(decide(m.ctx, a.identity, a.id, supervise.StatusApproved, &decideOptions{allowLocal: a.local != ""}))
	default:
		m.approving = nil
		m.status = "not approved: " + a.id
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
