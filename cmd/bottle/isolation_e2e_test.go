//go:build e2e

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A cloned repository names its remote: one on this machine (here the
// host's loopback) is refused by the gateway like any other host that
// leads there, since the repository may be anyone's. Named in the person's
// own config, the same url is reached.
func TestRepositoryRemoteOnLoopbackIsRefused(t *testing.T) {
	upRoot := t.TempDir()
	up := filepath.Join(upRoot, "app.git")
	upstreamRepo(t, up)
	srv := newHTTPGitServer(t, upRoot)
	url := srv.url + "/app.git"
	fetch := agentScript(`git fetch origin 2>&1 && echo fetch-done`, `git log -1 --format=%s origin/main`)

	e := newEnv(t, gitAgentConfig)
	gitClientImage(t, filepath.Join(e.dir, "gitimg"))
	workspaceOf(t, e, "origin", url, up)
	upstreamMoves(t, up)
	out, errs, code := e.run("start", "--yes", "git", "--", fetch)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if n := srv.hits.Load(); n != 0 || strings.Contains(out, "upstream moved") {
		t.Errorf("the gateway dialled a loopback remote only the repository names (%d requests):\n%s", n, out)
	}
	if !strings.Contains(errs, "reaches this machine or its network") {
		t.Errorf("the preflight does not warn about the remote:\n%s", errs)
	}
	e.assertClean()

	// The person's config names it: reached.
	named := newEnv(t, gitAgentConfig+fmt.Sprintf("\n[agents.git.git.remotes.origin]\nurl = %q\n", url))
	gitClientImage(t, filepath.Join(named.dir, "gitimg"))
	workspaceOf(t, named, "origin", url, up)
	out, errs, code = named.run("start", "--yes", "git", "--", fetch)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if srv.hits.Load() == 0 || !strings.Contains(out, "upstream moved") {
		t.Errorf("a remote the person's config names was not reached:\n%s\n%s", out, errs)
	}
	named.assertClean()
}

// A working directory's Containerfile is built isolated: its ADD of a URL
// would be fetched by the Podman service itself, on the host's network
// (here the host's loopback). It is refused before anything is built.
func TestWorkdirContainerfileADDOfAURLIsNotFetched(t *testing.T) {
	h := newHits(t)
	e := newEnv(t, "")
	cf := "FROM " + baseImage() + "\nADD " + h.url + "/payload /payload\n"
	out := isolatedRefusal(t, e, cf, "cat /payload", "2: ADD "+h.url+"/payload /payload: source "+h.url)
	// The same URL after a carriage return that the builder drops, so that
	// it reads the next line as the ADD's continuation, where the check
	// saw a line of its own.
	for _, f := range []string{"a", "bEXPOSE"} { // the builder joins the lines as they are
		os.WriteFile(filepath.Join(e.workdir, f), []byte(f), 0o644)
	}
	cf = "FROM " + baseImage() + "\nADD a b\\\r\r\nEXPOSE " + h.url + "/payload /d/\n"
	out += isolatedRefusal(t, e, cf, "cat /d/payload", `2: ADD a b\\u000d: holds a control character`)
	if n := h.n.Load(); n != 0 || strings.Contains(out, "leaked") {
		t.Errorf("Podman fetched the URL for the build (%d requests):\n%s", n, out)
	}
}

// FROM an image of the person's that neither the profile nor build_from
// names is refused: the build would read it, and the agent run it.
func TestWorkdirContainerfileFROMAnotherLocalImageIsRefused(t *testing.T) {
	ref, marker := privateImage(t)
	e := newEnv(t, "")
	out := isolatedRefusal(t, e, "FROM "+ref+"\n", "cat /private", "1: FROM "+ref+": FROM "+ref+" is neither the profile's own image nor in build_from")
	if strings.Contains(out, marker) {
		t.Errorf("the agent read the person's image:\n%s", out)
	}
}

// RUN --mount reads any image of the person's store (type=bind,from=) and
// reads and poisons the build caches their own builds share (type=cache).
func TestWorkdirContainerfileRUNMountIsRefused(t *testing.T) {
	ref, marker := privateImage(t)
	e := newEnv(t, "")
	cf := "FROM " + baseImage() + "\nRUN --mount=type=bind,from=" + ref + ",target=/p cat /p/private > /leak\n"
	out := isolatedRefusal(t, e, cf, "cat /leak", "2: RUN --mount=type=bind,from=localhost/bottle-e2e-private")
	if strings.Contains(out, marker) {
		t.Errorf("the build read the person's image through a mount:\n%s", out)
	}
	cache := "FROM " + baseImage() + "\nRUN --mount=type=cache,target=/cache,id=bottle-e2e-shared echo poisoned > /cache/x; ls /cache > /seen\n"
	isolatedRefusal(t, e, cache, "cat /seen", "2: RUN --mount=type=cache")
}

// An agent asks for a Containerfile that ADDs a URL (here the host's
// loopback): bottle requests shows it as the next start would read it and
// what that start refuses, and bottle approve refuses it in one line. The
// URL is never fetched, not even on a resume.
func TestCapabilityRequestADDOfAURLIsNotApproved(t *testing.T) {
	h := newHits(t)
	ee := newEgressEnv(t, "")
	cmd := ee.command("start", "--yes", "--keep", "p", "--", strings.Join([]string{
		`printf 'FROM %s\nADD ` + h.url + `/payload /payload\n' "$(probe mcp-image)" > /tmp/cf`,
		`probe mcp-capability /tmp/cf "needs a payload"`,
		`sleep 60`,
	}, "; "))
	startBackground(t, cmd)
	id, req := ee.waitRequest(t, "capability")
	defer ee.run("rm", id)
	listing := ee.mustRun("requests")
	if !strings.Contains(listing, "   2: ADD "+h.url+"/payload /payload") || !strings.Contains(listing, "refused: the requested Containerfile:2: ADD "+h.url) {
		t.Errorf("bottle requests does not show the Containerfile as the next start reads it:\n%s", listing)
	}
	out, errs, code := ee.run("approve", id, req)
	if code == 0 {
		t.Errorf("the request was approved:\n%s", out)
		cmd.Wait()
		ee.run("resume", "--yes", id, "--", "cat /payload")
	} else if !strings.Contains(errs, "the requested Containerfile:2: ADD "+h.url) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("the refusal should be one line naming the line and why:\n%s", errs)
	}
	if n := h.n.Load(); n != 0 {
		t.Errorf("Podman fetched the URL (%d requests)", n)
	}
}
