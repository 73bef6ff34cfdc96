package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/state"
	tea "github.com/charmbracelet/bubbletea"
)

// bottleKey takes s (stop) and x (remove). Both act on the bottles pane's
// selection only, so a key meant for a request never reaches a bottle; a
// removal waits for its y (updateRemove), a stop starts at once: a stopped
// bottle is kept, and resumes.
func (m *dashboard) bottleKey(key string) tea.Cmd {
	if m.pane != paneBottles {
		m.status = key + " acts on a bottle: tab to the bottles pane first"
		return nil
	}
	b := m.selectedBottle()
	if b == nil {
		return nil
	}
	if doing := m.busy[b.Identity]; doing != "" {
		m.status = doing + " " + b.Identity + "…"
		return nil
	}
	if key == "x" {
		r := *b
		m.removing = &r
		return nil
	}
	return m.bottleAction(*b, "stop", stopBottle)
}

// removePrompt names the bottle a removal is of, and what goes with it.
func removePrompt(r *lifecycle.Row) string {
	what := "its pod and its state go"
	switch {
	case r.State == "":
		what = "its pod goes (its state is gone already)"
	case r.Status == lifecycle.StatusKept:
		what = "it is kept: its state goes for good"
	case r.Status == "running" && !r.AgentDone:
		what = "its agent is running: it ends, and its pod and state go"
	}
	return "remove " + r.Identity + " (" + r.Agent + ")? " + what + ". y removes; any other key cancels"
}

// updateRemove takes the answer to a removal's question: y removes the
// bottle it names, any other key cancels.
func (m *dashboard) updateRemove(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	r := m.removing
	m.removing = nil
	if msg.String() != "y" {
		m.status = "not removed: " + r.Identity
		return m, nil
	}
	return m, m.bottleAction(*r, "remove", removeBottle)
}

// bottleAction stops or removes a bottle in the background: the status line
// and the bottle's row say it is under way until its outcome arrives (an
// acted message), which the status line then shows with what the act said
// (the settled workspace).
func (m *dashboard) bottleAction(r lifecycle.Row, verb string, act func(context.Context, lifecycle.Env, *state.Bottle, string) (string, error)) tea.Cmd {
	if m.busy == nil {
		m.busy = map[string]string{}
	}
	doing := map[string]string{"stop": "stopping", "remove": "removing"}[verb]
	m.busy[r.Identity] = doing
	m.status = doing + " " + r.Identity + "…"
	ctx, env, b, id := m.ctx, m.env, r.Bottle(), r.Identity
	return func() tea.Msg {
		var said strings.Builder
		env.Stderr = &said
		done, err := act(ctx, env, b, id)
		if err != nil {
			err = fmt.Errorf("%s %s: %w", verb, id, err)
		}
		return acted{msg: done + "\n" + said.String(), err: err, of: id}
	}
}
