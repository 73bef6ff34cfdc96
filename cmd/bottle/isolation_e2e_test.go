//go:build e2e

package main

import (
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// httpGitServer serves the bare repositories under root over plain smart
// HTTP on loopback, and counts the requests it gets.
type httpGitServer struct {
	url  string // http://127.0.0.1:port
	hits atomic.Int64
}

func newHTTPGitServer(t *testing.T, root string) *httpGitServer {
	t.Helper()
	s := &httpGitServer{}
	backend := &cgi.Handler{Path: "/usr/lib/git-core/git-http-backend",
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

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
