package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/x/ansi"
)

// detailsBottle lays out a bottle's folders as its sidecars and bottle
// leave them: routes, an audit log of n requests a host to hosts hosts
// (the first refused), and decisions decisions.
func detailsBottle(t *testing.T, id string, hosts, decisions int) lifecycle.Row {
	t.Helper()
	dir := filepath.Join(t.TempDir(), id)
	os.MkdirAll(filepath.Join(dir, "egress", egress.PolicyDir), 0o700)
	os.WriteFile(filepath.Join(dir, "egress", egress.PolicyDir, egress.RoutesFile),
		[]byte(`{"routes":[{"host":"plain.example.test","ports":[80]},{"host":"api.example.test","ports":[443],"intercept":true}]}`), 0o600)
	var audit, approvals strings.Builder
	for i := range hosts {
		h := fmt.Sprintf("h%02d.example.test", i)
		if i == 0 {
			// What the agent asked for, escapes and all.
			fmt.Fprintf(&audit, `{"host":"nowhere.example.test\u001b[2J","decision":"deny","reason":"host not allowed"}`+"\n")
			continue
		}
		fmt.Fprintf(&audit, `{"host":%q,"decision":"allow","bytes":100,"received":2048}`+"\n", h)
	}
	for i := range decisions {
		fmt.Fprintf(&approvals, `{"time":"2026-12-06T10:%02d:00Z","by":"ann","request":"req%d-0123456789","kind":"egress","what":"later.example.test:80","decision":"denied","reason":"not %d"}`+"\n", i, i, i)
	}
	os.WriteFile(filepath.Join(dir, "egress", egress.AuditFile), []byte(audit.String()), 0o600)
	os.WriteFile(filepath.Join(dir, state.ApprovalsFile), []byte(approvals.String()), 0o600)
	return lifecycle.Row{Identity: id, Agent: "t", Status: "running", State: dir, Where: "podman"}
}

func detailsModel(rows ...lifecycle.Row) *dashboard {
	m := &dashboard{ctx: context.Background(), local: "podman", width: 80, height: 24, bottles: rows, showDetails: true}
	m.details = readDetails(rows[0], nil)
	return m
}

// screenOf checks a view fits 80x24 and returns it without its styles.
func screenOf(t *testing.T, m *dashboard) string {
	t.Helper()
	v := m.View()
	lines := strings.Split(v, "\n")
	if len(lines) > 24 {
		t.Errorf("%d lines, on a screen of 24:\n%s", len(lines), ansi.Strip(v))
	}
	for _, l := range lines {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("a line %d columns wide: %q", w, ansi.Strip(l))
		}
	}
	return ansi.Strip(v)
}

// The details pane (i) shows the selected bottle's figures from the
// engine, its routes, its egress per host from the audit log and its
// decisions from approvals.jsonl, in an 80x24 screen, what the agent chose
// escaped.
func TestDashboardDetailsShowWhatBottleStatsAndInspectHave(t *testing.T) {
	r := detailsBottle(t, "t-aaaaa", 3, 2)
	m := detailsModel(r)
	m.stats = &sampled{of: "t-aaaaa", st: &lifecycle.BottleStats{Identity: "t-aaaaa", Services: []spec.ServiceStats{
		{Service: "agent", CPU: 1.5, Memory: 3 << 20, PIDs: 2},
		{Service: "egress", CPU: 0.5, Memory: 9 << 20, PIDs: 5},
	}}}
	s := screenOf(t, m)
	for _, want := range []string{
		"DETAILS t-aaaaa",
		"cpu 2.0%  memory 12MiB  processes 7  (agent 1.5% 3MiB 2)",
		"routes (2): plain.example.test:80, api.example.test:443",
		"nowhere.example.test?[2J", // escaped
		"h01.example.test                     1       0      100B      2KiB",
		"nowhere.example.test?[2J             0       1        0B        0B",
		"DECISIONS (2)",
		"11:01:00 denied   req1-0123 egress later.example.test:80 by ann: not 1",
	} {
		if !strings.Contains(s, strings.ReplaceAll(want, "11:01:00", localClock("2026-12-06T10:01:00Z"))) {
			t.Errorf("the pane lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(m.View(), "\x1b[2J") {
		t.Error("the agent's escape reached the screen")
	}
	// i again: the audit tails, as before.
	m.Update(key("i"))
	if s := screenOf(t, m); strings.Contains(s, "DETAILS") || !strings.Contains(s, "EGRESS t-aaaaa") {
		t.Errorf("i did not toggle back:\n%s", s)
	}
}

// Many hosts and decisions share the lines the screen has left: the
// busiest hosts and the latest decisions, and the key line stays.
func TestDashboardDetailsFitTheScreen(t *testing.T) {
	m := detailsModel(detailsBottle(t, "t-bbbbb", 30, 40), lifecycle.Row{Identity: "t-ccccc", Agent: "t", Status: "running"})
	m.status = "approved r1"
	s := screenOf(t, m)
	if !strings.Contains(s, "DECISIONS (40)") || !strings.Contains(s, "not 39") || strings.Contains(s, "not 30") ||
		!strings.Contains(s, "h01.example.test") || !strings.HasSuffix(s, "q quit") || !strings.Contains(s, "approved r1") {
		t.Errorf("a full pane:\n%s", s)
	}
}

// A kept bottle says how to carry on; a stopped one and a cluster's have no
// figures, and say why in a few words.
func TestDashboardDetailsOfKeptAndClusterBottles(t *testing.T) {
	kept := detailsBottle(t, "t-kkkkk", 0, 0)
	kept.Status = lifecycle.StatusKept
	s := screenOf(t, detailsModel(kept))
	for _, want := range []string{"kept: bottle resume t-kkkkk carries on", "cpu, memory: none, it is not running", "none yet"} {
		if !strings.Contains(s, want) {
			t.Errorf("a kept bottle's pane lacks %q:\n%s", want, s)
		}
	}
	cluster := detailsBottle(t, "t-ccccc", 0, 0)
	cluster.Where = "kubernetes"
	m := detailsModel(cluster)
	if m.sample() != nil {
		t.Error("a cluster bottle is sampled: the cluster gives no figures here")
	}
	if s := screenOf(t, m); !strings.Contains(s, "cpu, memory: none from a cluster here (bottle stats t-ccccc says where)") {
		t.Errorf("a cluster bottle's pane:\n%s", s)
	}
}

func localClock(rfc string) string {
	tm, _ := time.Parse(time.RFC3339, rfc)
	return tm.Local().Format("15:04:05")
}

// Keys that arrive in one read are taken one at a time: "xn" asks, then
// cancels; "dno" opens the reason and types "no" in it.
func TestDashboardTakesKeysOfOneReadOneByOne(t *testing.T) {
	m := detailsModel(detailsBottle(t, "t-ddddd", 0, 0))
	m.showDetails = false
	m.reason = textinput.New()
	m.requests = []bottleRequest{{Identity: "t-ddddd", Request: &supervise.Request{ID: "r1", Kind: supervise.KindEgress, Status: supervise.StatusPending}}}
	m.Update(key("xn"))
	if m.removing != nil || m.status != "not removed: t-ddddd" {
		t.Errorf("xn: removing %v, status %q", m.removing, m.status)
	}
	m.pane = paneRequests
	m.Update(key("dno"))
	if !m.denying || m.reason.Value() != "no" {
		t.Errorf("dno: denying %v, reason %q", m.denying, m.reason.Value())
	}
}

// The dashboard's egress tail reads past a line longer than the proxy
// writes (the agent chose its path): on main it stopped there, and the
// requests after it never showed.
func TestDashboardEgressTailReadsPastALongLine(t *testing.T) {
	dir := t.TempDir()
	log := `{"host":"first.example.test","decision":"allow"}` + "\n" +
		`{"host":"nowhere.example.test","decision":"deny","path":"/` + strings.Repeat("x", 2<<20) + `"}` + "\n" +
		`{"host":"exfil.example.test","decision":"deny","reason":"host not allowed"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, egress.AuditFile), []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := tail(beneath.At(dir), egress.AuditFile, 6)
	if len(lines) != 2 || !strings.Contains(lines[1], "exfil.example.test") {
		t.Errorf("the egress tail: %.200q", lines)
	}
}

// The dashboard reads the egress tail with every refresh, in the same
// read as every bottle's pending requests: the agent makes its audit as
// long as it likes, and on main each refresh read all of it (a new
// request waited behind gigabytes). Only its end is read now: bytes read
// (the process's rchar) are counted, not time.
func TestDashboardEgressTailReadsOnlyTheEnd(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, egress.AuditFile)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(1 << 30) // a long log, without the disk for it
	f.Seek(0, io.SeekEnd)
	f.WriteString("\n")
	for i := range 8 {
		fmt.Fprintf(f, `{"host":"h%d.example.test","decision":"deny","reason":"host not allowed"}`+"\n", i)
	}
	f.Close()
	before := readBytes(t)
	lines := tail(beneath.At(dir), egress.AuditFile, 6)
	if read := readBytes(t) - before; read > 64<<20 {
		t.Errorf("the tail read %d MiB of the log", read>>20)
	}
	if len(lines) != 6 || !strings.Contains(lines[5], "h7.example.test") || !strings.Contains(lines[0], "h2.example.test") {
		t.Errorf("the egress tail: %q", lines)
	}
}

// readBytes is what this process has read so far (rchar: every read call).
func readBytes(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatalf("read /proc/self/io: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("no rchar in /proc/self/io")
	return 0
}

// The details pane's egress per host is read with every refresh: each
// reads on from where the last one stopped, never the whole log again
// (on main every refresh read all of it, as long as the agent made it).
func TestDashboardDetailsReadOnlyWhatWasAppended(t *testing.T) {
	r := detailsBottle(t, "t-eeeee", 3, 0)
	p := filepath.Join(r.State, "egress", egress.AuditFile)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(1 << 28) // a long log, without the disk for it
	f.Seek(0, io.SeekEnd)
	f.WriteString("\n" + `{"host":"late.example.test","decision":"deny"}` + "\n")
	before := readBytes(t)
	d := readDetails(r, nil)
	first := readBytes(t) - before
	f.WriteString(`{"host":"late.example.test","decision":"allow","bytes":5}` + "\n" + `{"host":"half`)
	before = readBytes(t)
	d = readDetails(r, d)
	if again := readBytes(t) - before; again > 1<<20 {
		t.Errorf("the second read read %d MiB of the log (the first %d MiB)", again>>20, first>>20)
	}
	f.WriteString(`.example.test","decision":"deny"}` + "\n")
	f.Close()
	d = readDetails(r, d)
	got := map[string]egress.HostTraffic{}
	for _, h := range d.traffic {
		got[h.Host] = h
	}
	if got["late.example.test"] != (egress.HostTraffic{Host: "late.example.test", Allowed: 1, Refused: 1, Sent: 5}) ||
		got["half.example.test"].Refused != 1 || got["h01.example.test"].Allowed != 1 || d.err != nil {
		t.Errorf("egress per host: %+v, %v", d.traffic, d.err)
	}
}
