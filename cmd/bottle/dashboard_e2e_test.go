//go:build e2e

package main

import (
	"strings"
	"testing"
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
