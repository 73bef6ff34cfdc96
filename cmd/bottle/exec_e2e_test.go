//go:build e2e

package main

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestExecRunsInTheAgentsContainer(t *testing.T) {
	e := newEnv(t, "")
	id := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c", "echo hi > /tmp/marker; trap 'exit 0' TERM; sleep 120 & wait"))
	defer e.run("rm", id)
	poll(t, 30*time.Second, "the agent to run", func() bool {
		out, _, code := e.run("exec", id, "--", "cat", "/tmp/marker")
		return code == 0 && out == "hi\n"
	})
	out, errs, code := e.run("exec", id, "--", "sh", "-c", "id -u; echo to-stderr >&2; exit 3")
	if code != 3 || strings.TrimSpace(out) == "0" || !strings.Contains(errs, "to-stderr") {
		t.Errorf("exec: exit %d, stdout %q, stderr %q; want 3, the agent's (non-root) uid, and its stderr", code, out, errs)
	}
	cmd := e.command("exec", id, "cat")
	cmd.Stdin = strings.NewReader("piped in\n")
	got, err := cmd.Output()
	if err != nil || string(got) != "piped in\n" {
		t.Errorf("exec with stdin: %q, %v", got, err)
	}
	if _, errs, code := e.run("exec", "t-zzzzz", "--", "true"); code == 0 || !strings.Contains(errs, "t-zzzzz") {
		t.Errorf("exec in an unknown bottle: exit %d, %s", code, errs)
	}
}

// bottle port makes a server the agent runs on the pod's loopback reachable
// from the host, and only while it runs; the pod gets no network.
func TestPortReachesAServerOnTheBottlesLoopback(t *testing.T) {
	e := newEnv(t, "")
	id := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c",
		"mkdir -p /tmp/www && echo hello-port > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /tmp/www"))
	defer e.run("rm", id)
	cmd := e.command("port", id, "8080", "0")
	stdout, _ := cmd.StdoutPipe()
	var errs strings.Builder
	cmd.Stderr = &errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("bottle port printed no address: %v\n%s", err, errs.String())
	}
	addr = strings.TrimSpace(addr)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("bottle port listens on %q, not on the host's loopback", addr)
	}
	var body string
	poll(t, 30*time.Second, "the agent's server through bottle port", func() bool {
		resp, err := http.Get("http://" + addr + "/index.html")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if body != "hello-port\n" {
		t.Errorf("got %q through bottle port", body)
	}
	// Two connections at once, each its own relay.
	for range 2 {
		resp, err := http.Get("http://" + addr + "/index.html")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := http.Get("http://" + addr + "/index.html"); err == nil {
		t.Error("the port stays open after bottle port ends")
	}
}
