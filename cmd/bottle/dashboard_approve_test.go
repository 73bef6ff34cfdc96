package main

import (
	"context"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/charmbracelet/x/ansi"
)

// What an approval confirms is shown whole, however narrow the screen: a
// host name is read from its end (registry.npmjs.org.collector.example is
// not npm's), and the ports come after it. Cut to the screen's width, the
// prompt named a prefix of the host, and y approved a route to all of it.
func TestDashboardApprovalShowsTheWholeRoute(t *testing.T) {
	host := "registry.npmjs.org.mirror-cache.collector.example"
	for _, width := range []int{80, 40} {
		m := &dashboard{ctx: context.Background(), width: width, height: 24, pane: paneRequests,
			requests: []bottleRequest{{Identity: "claude-ab3cd", Request: &supervise.Request{
				ID: "r0123456789abcdef0123456789abcdef", Kind: supervise.KindEgress, Status: supervise.StatusPending,
				Host: host, Ports: []int{443, 22, 25, 6667}, Reason: "npm install"}}}}
		m.Update(key("a"))
		if m.approving == nil {
			t.Fatal("a opened no approval")
		}
		screen := ansi.Strip(m.View())
		var prompt []string
		for _, l := range strings.Split(screen, "\n") {
			if strings.Contains(l, "approves") {
				break
			}
			if strings.HasPrefix(l, "approve ") || len(prompt) > 0 {
				prompt = append(prompt, l)
				if w := ansi.StringWidth(l); w > width {
					t.Errorf("width %d: a line of the prompt %d columns wide: %q", width, w, l)
				}
			}
		}
		joined := strings.ReplaceAll(strings.Join(prompt, ""), "↳ ", "")
		for _, want := range []string{"r0123456789abcdef0123456789abcdef", "claude-ab3cd", host + ":443,22,25,6667"} {
			if !strings.Contains(joined, want) {
				t.Errorf("width %d: the approval prompt does not show %q:\n%s", width, want, strings.Join(prompt, "\n"))
			}
		}
	}
}
