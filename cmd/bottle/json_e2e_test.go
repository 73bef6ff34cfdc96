//go:build e2e

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/lifecycle"
)

// What a script reads of a start: a dry run's preview as JSON, ready or
// with what is missing (and exit 1 then), and a detached start's bottle as
// bottle ls --json shows it. A dry run leaves nothing behind.
func TestStartSpeaksJSON(t *testing.T) {
	e := newEnv(t, "\n[agents.gone]\nextends = \"t\"\nimage = \"localhost/bottle-not-here:1\"\n")
	type preview struct {
		ID    string `json:"id"`
		Agent string `json:"agent"`
		Image struct {
			Ref  string               `json:"ref"`
			Work *lifecycle.ImageWork `json:"work"`
		} `json:"image"`
		Ready   bool                `json:"ready"`
		Missing []lifecycle.Missing `json:"missing"`
	}
	var p preview
	out := e.mustRun("start", "--dry-run", "--json", "t")
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("start --dry-run --json: %v\n%s", err, out)
	}
	if !strings.HasPrefix(p.ID, "t-") || p.Agent != "t" || p.Image.Ref != baseImage() || p.Image.Work == nil || !p.Image.Work.Present || !p.Ready || len(p.Missing) != 0 {
		t.Errorf("the dry run of t: %+v\n%s", p, out)
	}

	out, errs, code := e.run("start", "--dry-run", "--json", "gone")
	p = preview{}
	if err := json.Unmarshal([]byte(out), &p); err != nil || code != 1 {
		t.Fatalf("start --dry-run --json of an image not here: exit %d, %v\n%s%s", code, err, out, errs)
	}
	if p.Ready || len(p.Missing) != 1 || p.Missing[0].Row != "image" || !strings.Contains(p.Missing[0].Why, "localhost/bottle-not-here:1 is not on this machine") ||
		p.Image.Work == nil || p.Image.Work.Present || !strings.Contains(errs, "a start would stop here") {
		t.Errorf("the dry run of gone: %+v\n%s", p, errs)
	}
	e.assertClean()

	var row lifecycle.Row
	out = e.mustRun("start", "--yes", "-d", "--json", "t", "--", "-c", "exec sleep 600")
	if err := json.Unmarshal([]byte(out), &row); err != nil {
		t.Fatalf("start -d --json: %v\n%s", err, out)
	}
	if !strings.HasPrefix(row.Identity, "t-") || row.Status != "running" || row.Agent != "t" || row.Workdir != e.workdir {
		t.Errorf("start -d --json: %+v\n%s", row, out)
	}
	e.mustRun("rm", row.Identity)
	e.assertClean()
}
