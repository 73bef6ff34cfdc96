//go:build e2e

package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
)

// In a real 80x24 terminal, the dashboard's x asks before it removes a
// bottle, naming it and saying it is kept; n keeps it, y removes it, and
// the status line says so. s stops a running bottle and says so.
func TestDashboardAsksBeforeRemoving(t *testing.T) {
	e := newEnv(t, "")
	kept := e.startDetached("exec sleep 600")
	e.mustRun("stop", kept)
	running := e.startDetached("exec sleep 600")

	term := newTerminal(t, e, 80, 24, "dashboard")
	term.waitFor("the kept bottle", kept)
	term.waitFor("the running bottle", running)
	term.keys("x") // the first row, the oldest: the kept bottle
	term.waitFor("the question", "remove "+kept+" (t)? it is kept: its state goes for good.")
	term.keys("n")
	term.waitFor("the cancel", "not removed: "+kept)
	if ls := e.mustRun("ls", "-q"); !strings.Contains(ls, kept) {
		t.Fatalf("n removed the bottle: %s", ls)
	}
	term.keys("x", "y")
	term.waitFor("the removal's outcome", "removed "+kept)
	if ls := e.mustRun("ls", "-q"); strings.Contains(ls, kept) {
		t.Errorf("y did not remove the bottle: %s", ls)
	}
	term.keys("Tab", "s") // from the requests pane: nothing happens to a bottle
	term.waitFor("where s acts", "s acts on a bottle: tab to the bottles pane first")
	term.keys("Tab", "s")
	term.waitFor("the stop's outcome", "stopped "+running+" (kept: bottle resume "+running+")")
	for _, row := range strings.Split(term.screen(), "\n") {
		if len([]rune(row)) > 80 {
			t.Errorf("a row is wider than the terminal: %q", row)
		}
	}
	term.keys("q")
	e.mustRun("rm", running)
	e.assertClean()
}

// In a real 80x24 terminal, the dashboard's details pane (i) shows a
// running bottle's figures from the engine, its routes, its egress per host
// from the audit log (allowed and refused, bytes each way) and the decision
// made in the dashboard; bottle stats has the same egress, as text and JSON.
func TestDashboardShowsABottlesDetails(t *testing.T) {
	ee := newEgressEnv(t, "")
	id := strings.TrimSpace(ee.mustRun("start", "--yes", "-d", "p", "--", strings.Join([]string{
		`probe get http://plain.example.test/x`,
		`probe get http://nowhere.example.test/y`,
		`probe mcp-egress later.example.test 80 "the fixtures"`,
		`exec sleep 600`,
	}, "; ")))
	ee.waitRequest(t, "egress")

	// "hello from upstream /x": 22 bytes back, none sent; the refused host none.
	var st []lifecycle.BottleStats
	if err := json.Unmarshal([]byte(ee.mustRun("stats", "--json", id)), &st); err != nil || len(st) != 1 {
		t.Fatalf("stats --json: %v", err)
	}
	hosts := map[string]egress.HostTraffic{}
	for _, h := range st[0].Egress {
		hosts[h.Host] = h
	}
	if hosts["plain.example.test"] != (egress.HostTraffic{Host: "plain.example.test", Allowed: 1, Received: 22}) ||
		hosts["nowhere.example.test"] != (egress.HostTraffic{Host: "nowhere.example.test", Refused: 1}) {
		t.Errorf("stats --json's egress: %+v", st[0].Egress)
	}
	if out := ee.mustRun("stats", id); !regexp.MustCompile(`(?m)^` + id + `\s+plain\.example\.test\s+1\s+0\s+0B\s+22B$`).MatchString(out) {
		t.Errorf("stats lacks plain.example.test's egress:\n%s", out)
	}

	term := newTerminal(t, ee.env, 80, 24, "dashboard")
	term.waitFor("the bottle", id)
	term.keys("i")
	term.waitFor("the details", "DETAILS "+id)
	if rootless() {
		// Rootless on cgroup v1 Podman gives none: the pane says why.
		waitForRow(term, "the figures or why there are none", `cpu \d+\.\d%  memory \S+  processes \d+|cpu, memory: none: \S`)
	} else {
		waitForRow(term, "the figures", `cpu \d+\.\d%  memory \S+  processes \d+  \(agent `)
	}
	term.waitFor("a route", "plain.example.test:80")
	waitForRow(term, "the allowed host", `plain\.example\.test\s+1\s+0\s+0B\s+22B`)
	waitForRow(term, "the refused host", `nowhere\.example\.test\s+0\s+1\s+0B\s+0B`)
	term.keys("Tab")
	// d and its reason in one write, as a fast typist's reach a busy
	// dashboard: one read holds them all.
	term.text("dnot now")
	term.keys("Enter")
	term.waitFor("the decision", "egress later.example.test by ")
	waitForRow(term, "the decision's row", `denied\s+\S+ egress later\.example\.test by \S+: not now`)
	screen := term.screen()
	if rows := strings.Split(strings.TrimRight(screen, "\n"), "\n"); len(rows) > 24 {
		t.Errorf("%d rows on a screen of 24:\n%s", len(rows), screen)
	}
	for _, row := range strings.Split(screen, "\n") {
		if len([]rune(row)) > 80 {
			t.Errorf("a row is wider than the terminal: %q", row)
		}
	}
	term.keys("q")
	ee.mustRun("rm", id)
	ee.assertClean()
}

// waitForRow waits for a row of the screen that matches re.
func waitForRow(term *terminal, what, re string) {
	term.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	for s := term.screen(); !rx.MatchString(s); s = term.screen() {
		if time.Now().After(deadline) {
			term.t.Fatalf("timed out waiting for %s (%s); the screen:\n%s", what, re, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
