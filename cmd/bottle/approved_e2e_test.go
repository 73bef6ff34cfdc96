//go:build e2e

package main

import (
	"strings"
	"testing"
	"time"
)

// TestApprovedRouteComesBackOnResume: a route a person approved on the
// agent's request belongs to the bottle. After bottle stop and bottle
// resume, the agent reaches the approved host again without asking, through
// the upstream it was approved with, and the resume's preflight shows the
// route as approved (issue 23, point 1).
func TestApprovedRouteComesBackOnResume(t *testing.T) {
	later := newUpstream(t, false)
	ee := newEgressEnv(t, "")
	cmd := ee.command("start", "--yes", "--keep", "p", "--", strings.Join([]string{
		`probe get http://later.example.test/before`,
		`probe mcp-egress later.example.test 80 "the build fetches from it"`,
		`probe get http://later.example.test/after`,
		`sleep 600`,
	}, "; "))
	out := startBackground(t, cmd)
	id, req := ee.waitRequest(t, "egress")
	ee.mustRun("approve", "--upstream", later.URL, id, req)
	poll(t, 60*time.Second, "the agent's request after the approval", func() bool {
		reqs, _ := later.requests()
		return len(reqs) == 1
	})
	ee.mustRun("stop", id)
	cmd.Wait()

	res, errs, code := ee.run("resume", "--yes", id, "--", "probe get http://later.example.test/resumed")
	if code != 0 || !strings.HasPrefix(res, "ok get http://later.example.test/resumed") || !strings.Contains(res, "hello from upstream /resumed") {
		t.Errorf("the resumed agent: code %d, out %q\nfirst session: %s\nstderr: %s", code, res, out.String(), errs)
	}
	if !strings.Contains(errs, "later.example.test:80 -> "+later.URL+" (approved") {
		t.Errorf("the resume's preflight does not show the approved route:\n%s", errs)
	}
	if reqs, _ := later.requests(); len(reqs) != 2 || reqs[1].URL.Path != "/resumed" {
		t.Errorf("the upstream saw %d requests, want /after and /resumed", len(reqs))
	}
	if pending, _, _ := ee.run("requests", "--json"); strings.Contains(pending, "egress") {
		t.Errorf("the resumed agent had to ask again: %s", pending)
	}
	ee.mustRun("rm", id)
	ee.assertClean()
}
