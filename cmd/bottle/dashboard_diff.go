package main

import (
	"fmt"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// diffPager shows a requested Containerfile's diff full screen: long lines
// wrap (a continuation starts with ↳) and the text scrolls, so nothing of
// what would be approved is cut off or out of sight without saying so.
type diffPager struct {
	text string
	vp   viewport.Model
}

func newDiffPager(text string, width, height int) *diffPager {
	d := &diffPager{text: text}
	d.resize(width, height)
	return d
}

func (d *diffPager) resize(width, height int) {
	if width <= 0 {
		width = 80
	}
	if height <= 0 {
		height = 24
	}
	d.vp = viewport.New(width, max(height-1, 1))
	d.vp.SetContent(wrapLines(d.text, width))
}

func (d *diffPager) key(msg tea.KeyMsg) { d.vp, _ = d.vp.Update(msg) }

func (d *diffPager) view() string {
	first, total := d.vp.YOffset+1, d.vp.TotalLineCount()
	last := min(d.vp.YOffset+d.vp.Height, total)
	more := "the end"
	if last < total {
		more = "more below"
	}
	return d.vp.View() + "\n" + dim.Render(fit(fmt.Sprintf("lines %d-%d of %d (%s)  ↑↓ PgUp PgDn scroll  esc back", first, last, total, more), d.vp.Width))
}

// wrapLines cuts every line to width columns, as the terminal counts them
// (a wide character is two, a tab runs to the next stop of 8), marking
// continuations: the screen cuts by columns, so wrapping by anything else
// would leave text past the edge, unseen.
func wrapLines(s string, width int) string {
	width = max(width, 4) // room for "↳ " and a wide character
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line = expandTabs(line)
		prefix := ""
		for {
			room := width - ansi.StringWidth(prefix)
			if ansi.StringWidth(line) <= room {
				out = append(out, prefix+line)
				break
			}
			head := ansi.Truncate(line, room, "")
			out = append(out, prefix+head)
			line = ansi.TruncateLeft(line, ansi.StringWidth(head), "")
			prefix = "↳ "
		}
	}
	return strings.Join(out, "\n")
}

// expandTabs turns tabs into the spaces a terminal would show.
func expandTabs(line string) string {
	if !strings.Contains(line, "\t") {
		return line
	}
	var b strings.Builder
	col := 0
	for _, part := range strings.SplitAfter(line, "\t") {
		text, tab := strings.CutSuffix(part, "\t")
		b.WriteString(text)
		col += ansi.StringWidth(text)
		if tab {
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
		}
	}
	return b.String()
}

// visibleDiff is a Containerfile diff (or a changed MCP definition) as the
// pager shows it: controls, whitespace beyond ASCII and characters that
// show as nothing become their escapes (\u3000), so no text hides in plain
// sight.
func visibleDiff(s string) string { return termtext.Visible(s) }
