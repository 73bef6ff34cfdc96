//go:build e2e

package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

// TestPortRefusesABottleThatIsNotRunning: bottle port on a kept bottle
// that is stopped listens for nothing and says so up front, in a bottle's
// terms; exec says the same; neither names the engine's containers.
func TestPortRefusesABottleThatIsNotRunning(t *testing.T) {
	e := newEnv(t, "")
	id := strings.TrimSpace(e.mustRun("start", "--yes", "--keep", "-d", "t", "--", "-c", "trap 'exit 0' TERM; sleep 120 & wait"))
	defer e.run("rm", id)
	e.mustRun("stop", id)
	want := "bottle " + id + " is not running: bottle resume " + id
	cmd := e.command("port", id, "8080", "0")
	stdout, _ := cmd.StdoutPipe()
	var errs strings.Builder
	cmd.Stderr = &errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if addr, err := bufio.NewReader(stdout).ReadString('\n'); err == nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("bottle port listens at %s for a stopped bottle", strings.TrimSpace(addr))
	}
	err := cmd.Wait()
	if err == nil || !strings.Contains(errs.String(), want) || strings.Contains(errs.String(), "bottle-"+id) {
		t.Errorf("bottle port on a stopped bottle: %v\n%s", err, errs.String())
	}
	_, stderr, code := e.run("exec", id, "--", "true")
	if code == 0 || !strings.Contains(stderr, want) || strings.Contains(stderr, "bottle-"+id) {
		t.Errorf("bottle exec on a stopped bottle: exit %d\n%s", code, stderr)
	}
}

// The completion scripts ask bottle itself: bash completes commands,
// profile names and identities (zsh and fish ask the same way).
func TestCompletionCompletesCommandsProfilesAndIdentities(t *testing.T) {
	e := newEnv(t, "")
	id := strings.TrimSpace(e.mustRun("start", "--yes", "--keep", "-d", "t", "--", "-c", "true"))
	defer e.run("rm", id)
	bin := filepath.Join(e.dir, "bin")
	os.MkdirAll(bin, 0o755)
	os.Symlink(bottleBin(t), filepath.Join(bin, "bottle"))
	complete := func(words ...string) string {
		script := e.mustRun("completion", "bash")
		line := fmt.Sprintf("%s\nCOMP_WORDS=(%s); COMP_CWORD=%d; _bottle_complete; echo \"${COMPREPLY[*]}\"", script, strings.Join(quoteAll(words), " "), len(words)-1)
		cmd := exec.Command("bash", "-c", line)
		cmd.Dir = e.workdir
		cmd.Env = append(e.command().Env, "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("bottle", "st"); got != "start stats stop" {
		t.Errorf("commands: %q", got)
	}
	if got := complete("bottle", "--config", e.config, "start", ""); !strings.Contains(got, "t") || !strings.Contains(got, "claude") {
		t.Errorf("profiles: %q", got)
	}
	if got := complete("bottle", "--config", e.config, "start", "--dr"); got != "--dry-run" {
		t.Errorf("flags: %q", got)
	}
	if got := complete("bottle", "stop", ""); got != id {
		t.Errorf("identities: %q, want %s", got, id)
	}
	for _, shell := range []string{"zsh", "fish"} {
		if out := e.mustRun("completion", shell); !strings.Contains(out, "--generate-bash-completion") {
			t.Errorf("%s script:\n%s", shell, out)
		}
	}
}

// bottle doctor says what is there, and for what is missing the fix;
// never a credential's value.
func TestDoctorSaysWhatIsMissingAndHowToFixIt(t *testing.T) {
	const secret = "doctor-sentinel-9c1e"
	e := newEnv(t, `
[[agents.t.egress]]
host = "api.example.test"
[agents.t.egress.credential]
header = "x-api-key"
from_env = "BOTTLE_E2E_DOCTOR_KEY"
`)
	out, _, code := e.run("doctor")
	if code == 0 || !strings.Contains(out, "FAIL profile t") || !strings.Contains(out, "fix: read -rs BOTTLE_E2E_DOCTOR_KEY && export BOTTLE_E2E_DOCTOR_KEY") {
		t.Errorf("doctor with a credential missing: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "ok   podman") || !strings.Contains(out, "ok   state") {
		t.Errorf("doctor does not report what is there:\n%s", out)
	}
	e.extraEnv = append(e.extraEnv, "BOTTLE_E2E_DOCTOR_KEY="+secret)
	out, _, _ = e.run("doctor")
	if strings.Contains(out, secret) || !strings.Contains(out, "$BOTTLE_E2E_DOCTOR_KEY is set") {
		t.Errorf("doctor with the credential set:\n%s", out)
	}
	// No Podman service where bottle looks.
	e.extraEnv = append(e.extraEnv, "CONTAINER_HOST=unix://"+filepath.Join(e.dir, "no.sock"))
	out, _, code = e.run("doctor")
	if code == 0 || !strings.Contains(out, "FAIL podman") || !strings.Contains(out, "fix: ") {
		t.Errorf("doctor with no Podman service: exit %d\n%s", code, out)
	}
	if rootless() && !strings.Contains(out, "rootless") {
		t.Errorf("doctor checks no rootless prerequisite:\n%s", out)
	}
}
