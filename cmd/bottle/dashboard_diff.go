package main

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
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

// wrapLines cuts every line to width columns, marking continuations.
func wrapLines(s string, width int) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		r := []rune(line)
		for len(r) > width {
			out = append(out, string(r[:width]))
			r = append([]rune("↳ "), r[width:]...)
		}
		out = append(out, string(r))
	}
	return strings.Join(out, "\n")
}
