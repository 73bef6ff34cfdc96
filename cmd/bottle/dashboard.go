package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
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
			return withEnv(c.Context, g, func(env lifecycle.Env) error { return runDashboard(c.Context, g, env) })
		},
	}
}

func runDashboard(ctx context.Context, g *globals, env lifecycle.Env) error {
	ti := textinput.New()
	ti.Placeholder = "why (the agent reads this)"
	ti.CharLimit = 200
	m := &dashboard{ctx: ctx, env: env, local: env.Engine.Info().Name, reason: ti, resumed: map[string]bool{}, config: g.config}
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

// dashboard is the model. Its Update never waits on I/O: reading the
// bottles, deciding, stopping and resuming run in commands (tea.Cmd) that
// answer with a message.
type dashboard struct {
	ctx   context.Context
	env   lifecycle.Env
	local string // the engine of this machine's bottles; others are marked

	bottles  []lifecycle.Row
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

	refreshing bool            // a refresh is under way
	resumed    map[string]bool // preserve reasons this dashboard has resumed already
	config     string          // --config, passed on to a resume it starts

	denying bool // the reason prompt is open
	reason  textinput.Model
	diff    *diffPager // a capability request's diff, shown full screen
	// approving is an approval waiting for its confirmation key: it names
	// the request chosen when a was pressed, whatever the list shows since.
	approving *approval
	// removing is a removal waiting for its y, of the bottle selected
	// when x was pressed.
	removing *lifecycle.Row
	// busy are the bottles a stop or a removal is under way for, with
	// what is being done ("stopping", "removing").
	busy map[string]string

	showDetails bool           // i: the details pane instead of the audit tails
	details     *bottleDetails // of the selected bottle, as the last refresh read them
	stats       *sampled       // and its figures, as the last sample had them
	sampling    bool           // a sample is under way
}

// approval is an approval the person has asked for and not yet confirmed.
type approval struct {
	identity, id, what string
	local              string // why it reaches this machine or its network; "" when it does not
	sure               bool   // the first confirmation is given; local ones need a second
}

type (
	tick struct{}
	// refreshed is what a refresh read.
	refreshed struct {
		rows          []lifecycle.Row
		err           error
		requests      []bottleRequest
		audit, pushes []string
		auditOf       string         // the bottle the audit tails are of
		details       *bottleDetails // and its details, when the pane shows
	}
	// acted is the outcome of an action, for the status line; of is the
	// bottle a stop or a removal was of.
	acted struct {
		msg string
		err error
		of  string
	}
)

func every() tea.Cmd { return tea.Tick(time.Second, func(time.Time) tea.Msg { return tick{} }) }

func (m *dashboard) Init() tea.Cmd { return tea.Batch(m.refresh(), every()) }

// refresh reads, in the background, bottles from the engine and state,
// requests from every bottle's supervise folder, and the selected bottle's
// audit tails.
func (m *dashboard) refresh() tea.Cmd {
	if m.refreshing {
		return nil
	}
	m.refreshing = true
	ctx, env, keep, details, prev := m.ctx, m.env, m.bottles, m.showDetails, m.details
	sel := ""
	if b := m.selectedBottle(); b != nil {
		sel = b.Identity
	}
	return func() tea.Msg {
		var r refreshed
		rows, err := lifecycle.List(ctx, env)
		r.rows, r.err = rows, err
		if err != nil {
			rows = keep // a hiccup of the engine's keeps what was shown, with the error
		}
		for _, b := range rows {
			if b.State == "" {
				continue
			}
			if b.Status == "running" {
				lifecycle.Sync(ctx, env, b.Bottle()) // a cluster bottle's requests, and what was decided
			}
			reqs, _ := (supervise.Store{Dir: b.Bottle().SuperviseDir()}).List()
			for _, q := range reqs {
				if q.Status == supervise.StatusPending {
					r.requests = append(r.requests, bottleRequest{Identity: b.Identity, Request: q})
				}
			}
			if b.Identity == sel || (sel == "" && r.auditOf == "") {
				r.auditOf = b.Identity
				r.audit = tail(b.Bottle().EgressFolder(), egress.AuditFile, 6)
				r.pushes = gitgate.AuditTail(b.Bottle().GitGateFolder(), 3)
				if details {
					r.details = readDetails(b, prev)
				}
			}
		}
		return r
	}
}

// apply takes in what a refresh read; the selection stays on the same
// bottle and request, wherever the refresh puts them.
func (m *dashboard) apply(r refreshed) tea.Cmd {
	m.refreshing = false
	selBottle, selReq := "", ""
	if b := m.selectedBottle(); b != nil {
		selBottle = b.Identity
	}
	if q := m.selectedRequest(); q != nil {
		selReq = q.Identity + " " + q.ID
	}
	m.err = r.err
	if r.err == nil {
		m.bottles = r.rows
	}
	m.requests = r.requests
	m.bottleI = clamp(indexOf(m.bottles, func(b lifecycle.Row) bool { return b.Identity == selBottle }, m.bottleI), len(m.bottles))
	m.reqI = clamp(indexOf(m.requests, func(q bottleRequest) bool { return q.Identity+" "+q.ID == selReq }, m.reqI), len(m.requests))
	m.audit, m.pushes = nil, nil
	if b := m.selectedBottle(); b != nil && b.Identity == r.auditOf {
		m.audit, m.pushes = r.audit, r.pushes
		if r.details != nil {
			m.details = r.details
		}
	}
	return m.autoResume()
}

// autoResume resumes, detached and in the background, each bottle whose
// profile asks for it and that was torn down for an approved image change,
// once per change.
func (m *dashboard) autoResume() tea.Cmd {
	var cmds []tea.Cmd
	for _, r := range m.bottles {
		if r.Status != lifecycle.StatusKept || r.State == "" {
			continue
		}
		b := r.Bottle()
		reason := b.PreserveReason()
		if !strings.HasPrefix(reason, "capability ") || m.resumed[r.Identity+" "+reason] {
			continue
		}
		if meta, err := b.Metadata(); err != nil || !meta.AutoResume {
			continue
		}
		// The session the change ended may still be settling its
		// workspace (its command holds the bottle): a resume now would be
		// refused as in use, and never tried again. The next refresh sees
		// it free.
		if b.InUse() {
			continue
		}
		m.resumed[r.Identity+" "+reason] = true
		id, ctx, config := r.Identity, m.ctx, m.config
		cmds = append(cmds, func() tea.Msg {
			exe, err := os.Executable()
			if err != nil {
				return acted{err: err}
			}
			args := []string{"resume", "--yes", "--detach", id}
			if config != "" {
				args = append([]string{"--config", config}, args...)
			}
			out, err := exec.CommandContext(ctx, exe, args...).CombinedOutput()
			if err != nil {
				return acted{err: fmt.Errorf("resume %s: %s", id, lastLineOf(out))}
			}
			return acted{msg: "resumed " + id + " with its new image"}
		})
	}
	return tea.Batch(cmds...)
}

func lastLineOf(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
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

func (m *dashboard) selectedBottle() *lifecycle.Row {
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
		return m, tea.Batch(m.refresh(), m.sample(), every())
	case refreshed:
		return m, m.apply(msg)
	case sampled:
		m.sampling = false
		m.stats = &msg
		return m, nil
	case acted:
		delete(m.busy, msg.of)
		if msg.err != nil {
			m.status = printable("error: "+msg.err.Error(), false)
		} else {
			m.status = printable(strings.ReplaceAll(strings.TrimSpace(msg.msg), "\n", "; "), false)
		}
		return m, m.refresh()
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		if m.diff != nil {
			m.diff.resize(m.width, m.height)
		}
		return m, nil
	case tea.KeyMsg:
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
			return m, m.eachKey(msg.Runes)
		}
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
		if m.removing != nil {
			return m.updateRemove(msg)
		}
		return m.updateKey(msg)
	}
	return m, nil
}

// eachKey takes keys that came in one read (typed fast, or on a busy
// machine or a slow link) one at a time, as they were typed: "dno" is d,
// then n and o for the reason d asks for, never one key no one pressed.
func (m *dashboard) eachKey(runes []rune) tea.Cmd {
	var cmds []tea.Cmd
	for _, r := range runes {
		_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		cmds = append(cmds, cmd)
	}
	return tea.Batch(cmds...)
}

func (m *dashboard) updateKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "q", "ctrl+c":
		return m, tea.Quit
	case "tab":
		m.pane = (m.pane + 1) % 2
	case "up", "k":
		return m, m.move(-1)
	case "down", "j":
		return m, m.move(1)
	case "a":
		if r := m.selectedRequest(); r != nil {
			m.approving = &approval{identity: r.Identity, id: r.ID, what: printable(r.Kind, false) + " " + requestWhat(r.Request), local: lifecycle.LocalNote(r.Request)}
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
			m.diff = newDiffPager(containerfileDiff(m.env.Root, r), m.width, m.height)
		} else if r != nil && r.Kind == supervise.KindMCPTool {
			// As a Containerfile's diff: what would not show as itself
			// (tag characters a model reads, zero-width ones) escaped.
			m.diff = newDiffPager(visibleDiff(r.Reason+"\n\n"+r.Message), m.width, m.height)
		}
	case "s", "x":
		return m, m.bottleKey(msg.String())
	case "i":
		m.showDetails = !m.showDetails
		return m, tea.Batch(m.refresh(), m.sample())
	case "r":
		return m, m.refresh()
	}
	return m, nil
}

// decide carries out a decision in the background, as bottle approve and
// deny do; what it says joins the status line.
func (m *dashboard) decide(d lifecycle.Decision) tea.Cmd {
	ctx, env := m.ctx, m.env
	return func() tea.Msg {
		var said strings.Builder
		env.Stderr = &said
		d.By = whoami()
		out, err := lifecycle.Decide(ctx, env, d)
		if err != nil || !out.Restart {
			return acted{msg: out.Message + "\n" + said.String(), err: err}
		}
		msg, err := lifecycle.RestartForImage(ctx, env, d.Identity)
		return acted{msg: out.Message + "\n" + said.String() + msg, err: err}
	}
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
		m.status = "approving " + a.id + "..."
		return m, m.decide(lifecycle.Decision{Identity: a.identity, Request: a.id, Status: supervise.StatusApproved, AllowLocal: a.local != ""})
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
			return m, m.decide(lifecycle.Decision{Identity: r.Identity, Request: r.ID, Status: supervise.StatusDenied, Reason: m.reason.Value()})
		}
		return m, nil
	}
	var cmd tea.Cmd
	m.reason, cmd = m.reason.Update(msg)
	return m, cmd
}

func (m *dashboard) move(d int) tea.Cmd {
	if m.pane == paneBottles {
		m.bottleI = clamp(m.bottleI+d, len(m.bottles))
	} else {
		m.reqI = clamp(m.reqI+d, len(m.requests))
	}
	return tea.Batch(m.refresh(), m.sample())
}
