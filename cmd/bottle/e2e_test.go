//go:build e2e

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/lifecycle"
)

// What these need beyond a Podman service (e2e_phases_test.go).
var (
	_ = needs([]string{podmanService, rootfulPodman}, TestRootfulRefusesRootOwnedBind, TestRootfulResourceLimitsApplied)
	// A private service, and a runsc one, are started from the podman on PATH.
	_ = needs([]string{podmanService, rootlessUser, hostPodman}, TestRootlessStartsPrivateServiceOrSaysWhatToInstall)
	_ = needs([]string{podmanService, hostPodman}, TestRunscShowsGVisorKernel, TestRunscNotRegisteredFailsBeforeCreatingAnything,
		TestRunscEgressAttacksFail, TestRunscGitGateFetchAndPush, TestRunscBindAgentCannotReplaceHostGitFolder)
)

func TestStartWritesWorkspaceAndLeavesNothing(t *testing.T) {
	e := newEnv(t, "")
	out := e.mustRun("start", "--yes", "t", "--", "-c", "echo hello > /workspace/made; id -u; cat /proc/net/dev | grep -c :")
	got, err := os.ReadFile(filepath.Join(e.workdir, "made"))
	if err != nil || string(got) != "hello\n" {
		t.Fatalf("file written through the workspace mount: %q, %v", got, err)
	}
	fi, _ := os.Stat(filepath.Join(e.workdir, "made"))
	owner := int(fi.Sys().(*syscall.Stat_t).Uid)
	wantOwner := 1000 // the working directory's owner, rootful
	if rootless() {
		wantOwner = os.Getuid() // keep-id: the invoking user
	}
	if owner != wantOwner {
		t.Errorf("file owner %d, want %d", owner, wantOwner)
	}
	lines := strings.Fields(out)
	if len(lines) != 2 || lines[0] == "0" {
		t.Errorf("agent output %q: want a non-root uid and an interface count", out)
	}
	if lines[1] != "1" {
		t.Errorf("the pod has %s network interfaces, want loopback only", lines[1])
	}
	e.assertClean()
}

func TestExitCodePropagates(t *testing.T) {
	e := newEnv(t, "")
	for _, code := range []int{0, 3, 42} {
		out, _, got := e.run("start", "--yes", "t", "--", "-c", fmt.Sprintf("echo out; exit %d", code))
		if got != code || out != "out\n" {
			t.Errorf("exit %d: got code %d, stdout %q", code, got, out)
		}
	}
	e.assertClean()
}

func TestKeepThenResumeSameIdentity(t *testing.T) {
	e := newEnv(t, "")
	_, errs, code := e.run("start", "--yes", "--keep", "t", "--", "-c", "echo remembered > $HOME/note")
	if code != 0 {
		t.Fatalf("start --keep exited %d: %s", code, errs)
	}
	m := regexp.MustCompile(`bottle resume (t-[0-9a-z]{5})`).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("start --keep did not print the resume command: %s", errs)
	}
	id := m[1]
	if p := e.pods(); len(p) != 0 {
		t.Errorf("pods left after the session: %v", p)
	}
	meta, err := os.ReadFile(filepath.Join(e.rootDir(), id, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"agent": "t"`, `"workdir": "` + e.workdir + `"`, `"workspace": "bind"`, `"runtime": "runc"`, `"image": "` + baseImage() + `"`, `"image_digest": "sha256:`, `"bottle_version"`, `"started_at"`} {
		if !strings.Contains(string(meta), field) {
			t.Errorf("metadata.json lacks %s:\n%s", field, meta)
		}
	}
	ls := e.mustRun("ls", "--json")
	var rows []lifecycle.Row
	if err := json.Unmarshal([]byte(ls), &rows); err != nil || len(rows) != 1 || rows[0].Identity != id || rows[0].Status != lifecycle.StatusKept {
		t.Fatalf("ls --json = %s (%v), want %s preserved", ls, err, id)
	}
	// A stale pod of that identity is replaced, not an obstacle.
	out := e.mustRun("resume", "--yes", id, "--", "-c", "cat $HOME/note; hostname")
	if out != "remembered\nbottle-"+id+"\n" {
		t.Errorf("resumed agent printed %q, want its note and the same identity", out)
	}
	e.mustRun("rm", id)
	e.assertClean()

	_, errs, code = e.run("resume", "--yes", id)
	if code == 0 || !strings.Contains(errs, id) {
		t.Errorf("resume of a removed bottle: code %d, %s", code, errs)
	}
}

// Ten bottles started at once in one directory: each its own identity,
// nothing left. They take copies of the directory: bind bottles in one
// folder run one at a time (TestBindStartsAloneInTheirFolder).
func TestTenConcurrentStartsInOneDirectory(t *testing.T) {
	e := newEnv(t, "[agents.c]\nextends = \"t\"\nworkspace = \"copy\"\n")
	os.WriteFile(filepath.Join(e.workdir, "shared.txt"), []byte("one folder\n"), 0o644)
	const n = 10
	var wg sync.WaitGroup
	hosts := make([]string, n)
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, errs, code := e.run("start", "--yes", "c", "--", "-c", "hostname; grep -q 'one folder' /workspace/shared.txt || echo no-copy")
			hosts[i], codes[i] = strings.TrimSpace(out), code
			if code != 0 {
				t.Errorf("start %d exited %d: %s", i, code, errs)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, h := range hosts {
		if !strings.HasPrefix(h, "bottle-c-") || strings.Contains(h, "\n") || seen[h] {
			t.Errorf("identity %q is malformed or shared: %v", h, hosts)
		}
		seen[h] = true
	}
	e.assertClean()
}

func TestRunscShowsGVisorKernel(t *testing.T) {
	e := newEnv(t, `
[agents.g]
extends = "t"
runtime = "runsc"
`)
	out := e.mustRun("start", "--yes", "g", "--", "-c", "cat /proc/version; echo x > /workspace/g; grep CapEff /proc/self/status")
	if !strings.Contains(out, "Linux version 4.4.0") {
		t.Errorf("/proc/version under runsc = %q, want gVisor's kernel", out)
	}
	if !strings.Contains(out, "CapEff:\t0000000000000000") {
		t.Errorf("runsc agent has capabilities: %q", out)
	}
	fi, err := os.Stat(filepath.Join(e.workdir, "g"))
	if err != nil {
		t.Fatalf("runsc agent could not write the workspace: %v", err)
	}
	wantOwner := 1000
	if rootless() {
		wantOwner = os.Getuid()
	}
	if owner := int(fi.Sys().(*syscall.Stat_t).Uid); owner != wantOwner {
		t.Errorf("file written under runsc is owned by %d, want %d", owner, wantOwner)
	}
	out = e.mustRun("start", "--yes", "t", "--", "-c", "cat /proc/version")
	if strings.Contains(out, "Linux version 4.4.0") {
		t.Errorf("runc agent reports gVisor's kernel: %q", out)
	}
	e.assertClean()
}

func TestInterruptLeavesNothing(t *testing.T) {
	e := newEnv(t, `
[agents.slowbuild]
containerfile = "slow/Containerfile"
command = ["/bin/sh"]
`)
	slow := filepath.Join(e.dir, "slow")
	os.MkdirAll(slow, 0o755)
	// A unique line, so the build is never cached, and slow enough to be interrupted.
	cf := fmt.Sprintf("FROM %s\nRUN echo %d && sleep 30\n", baseImage(), time.Now().UnixNano())
	os.WriteFile(filepath.Join(slow, "Containerfile"), []byte(cf), 0o644)

	cases := []struct {
		name  string
		args  []string
		ready func() bool
	}{
		{"while the agent runs", []string{"start", "--yes", "t", "--", "-c", "sleep 60"}, func() bool { return len(e.pods()) == 1 }},
		{"while the image builds", []string{"start", "--yes", "slowbuild"}, func() bool { return len(e.states()) == 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := e.command(tc.args...)
			var errb strings.Builder
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			poll(t, 60*time.Second, "the bottle to be under way", tc.ready)
			cmd.Process.Signal(os.Interrupt)
			err := cmd.Wait()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != exitInterrupted {
				t.Errorf("interrupted start: %v, want exit %d; stderr: %s", err, exitInterrupted, errb.String())
			}
			e.assertClean()
		})
	}
}

func TestCopyWorkspaceLeavesHostUntouched(t *testing.T) {
	e := newEnv(t, `
[agents.c]
extends = "t"
workspace = "copy"
`)
	os.WriteFile(filepath.Join(e.workdir, "orig"), []byte("host\n"), 0o644)
	out := e.mustRun("start", "--yes", "c", "--", "-c", "cat /workspace/orig; echo changed > /workspace/orig; touch /workspace/new")
	if out != "host\n" {
		t.Errorf("agent saw %q in the copy, want the host's file", out)
	}
	got, _ := os.ReadFile(filepath.Join(e.workdir, "orig"))
	if string(got) != "host\n" {
		t.Errorf("host file changed to %q", got)
	}
	if _, err := os.Stat(filepath.Join(e.workdir, "new")); err == nil {
		t.Error("a file the agent made in copy mode appeared in the host tree")
	}
	e.assertClean()
}

func TestDryRunAndDeclineLeaveNothing(t *testing.T) {
	e := newEnv(t, "")
	out := e.mustRun("start", "--dry-run", "t")
	for _, want := range []string{"bottle t-", baseImage(), "runtime    runc", "workspace  bind " + e.workdir, "memory 256m"} {
		if !strings.Contains(out, want) {
			t.Errorf("preflight lacks %q:\n%s", want, out)
		}
	}
	e.assertClean()
	// Without --yes and without a terminal to ask on, nothing starts.
	_, errs, code := e.run("start", "t")
	if code == 0 || !strings.Contains(errs, "--yes") {
		t.Errorf("start without a terminal: code %d, %s", code, errs)
	}
	e.assertClean()
}

func TestContainerfileBuiltOnceThroughTheAPI(t *testing.T) {
	e := newEnv(t, `
[agents.b]
containerfile = "img/Containerfile"
command = ["/bin/sh"]
`)
	img := filepath.Join(e.dir, "img")
	os.MkdirAll(img, 0o755)
	os.WriteFile(filepath.Join(img, "tool.sh"), []byte("#!/bin/sh\necho tool $1\n"), 0o755)
	cf := fmt.Sprintf("FROM %s\nCOPY tool.sh /bin/tool\nRUN echo %d > /built\n", baseImage(), time.Now().UnixNano())
	os.WriteFile(filepath.Join(img, "Containerfile"), []byte(cf), 0o644)
	leftovers := e.buildLeftovers()

	out, errs, code := e.run("start", "--yes", "b", "--", "-c", "tool ran")
	if code != 0 || out != "tool ran\n" || !strings.Contains(errs, "building localhost/bottle-b:") {
		t.Fatalf("first start: code %d, out %q, stderr %s", code, out, errs)
	}
	_, errs, code = e.run("start", "--yes", "b", "--", "-c", "true")
	if code != 0 || strings.Contains(errs, "building") {
		t.Errorf("unchanged profile was rebuilt (code %d): %s", code, errs)
	}
	if n := e.buildLeftovers(); n != leftovers {
		t.Errorf("the build left %d working containers in the store", n-leftovers)
	}
	e.assertClean()
}

func TestDetachedLsLogsStopRmGc(t *testing.T) {
	e := newEnv(t, "")
	// The agent traps TERM: stop reaches it (TestStopEndsTheAgentWithSIGTERM for one that does not).
	id := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c", "trap 'exit 0' TERM; echo started; sleep 600 & wait"))
	if !regexp.MustCompile(`^t-[0-9a-z]{5}$`).MatchString(id) {
		t.Fatalf("start -d printed %q, want the identity", id)
	}
	poll(t, 30*time.Second, "the agent's output", func() bool {
		out, _, _ := e.run("logs", id)
		return out == "started\n"
	})
	ls := e.mustRun("ls")
	if !strings.Contains(ls, id) || !strings.Contains(ls, "running") || !strings.Contains(ls, e.workdir) {
		t.Errorf("ls while running:\n%s", ls)
	}
	e.mustRun("stop", id)
	ls = e.mustRun("ls", "--json")
	if !strings.Contains(ls, `"preserved": true`) {
		t.Errorf("ls after stop: %s", ls)
	}
	e.mustRun("rm", id)
	e.assertClean()

	// gc: a pod whose state is gone, and state whose pod is gone.
	orphan := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c", "sleep 600"))
	os.RemoveAll(filepath.Join(e.rootDir(), orphan))
	stale := strings.TrimSpace(e.mustRun("start", "--yes", "-d", "t", "--", "-c", "sleep 600"))
	exec.Command("podman", "pod", "rm", "-f", "-t", "0", "bottle-"+stale).Run()
	os.MkdirAll(filepath.Join(e.rootDir(), "t-unfin"), 0o700) // a start that died before writing metadata
	out := e.mustRun("gc")
	if !strings.Contains(out, "bottle-"+orphan) || !strings.Contains(out, stale) || !strings.Contains(out, "removed unfinished state t-unfin") {
		t.Errorf("gc output:\n%s", out)
	}
	e.assertClean()

	_, errs, code := e.run("logs", "t-zzzzz")
	if code == 0 || !strings.Contains(errs, "t-zzzzz") {
		t.Errorf("logs of an unknown bottle: code %d, %s", code, errs)
	}
}

func TestBadConfigCreatesNothing(t *testing.T) {
	e := newEnv(t, `
[agents.bad]
extends = "t"
workspace = "mount"
`)
	_, errs, code := e.run("start", "--yes", "bad")
	if code == 0 || !strings.Contains(errs, e.config+":") || !strings.Contains(errs, "agents.bad.workspace") {
		t.Errorf("bad config: code %d, %s", code, errs)
	}
	e.assertClean()
	good := newEnv(t, "")
	_, errs, code = good.run("start", "--yes", "nosuch")
	if code == 0 || !strings.Contains(errs, `no agent profile "nosuch"`) {
		t.Errorf("unknown profile: code %d, %s", code, errs)
	}
	good.assertClean()
}

func TestRootfulRefusesRootOwnedBind(t *testing.T) {
	if rootless() {
		t.Fatal("rootful only (keep-id maps the caller rootless): hack/e2e.sh leaves it out of the rootless run")
	}
	e := newEnv(t, "")
	os.Chown(e.workdir, 0, 0)
	_, errs, code := e.run("start", "--yes", "t", "--", "-c", "true")
	if code == 0 || !strings.Contains(errs, e.workdir) || !strings.Contains(errs, "copy") {
		t.Errorf("root-owned bind: code %d, %s", code, errs)
	}
	e.assertClean()
}

func TestRootfulResourceLimitsApplied(t *testing.T) {
	if rootless() {
		t.Fatal("rootful only (rootless Podman cannot enforce limits on cgroup v1): hack/e2e.sh leaves it out of the rootless run")
	}
	e := newEnv(t, "")
	out := e.mustRun("start", "--yes", "t", "--", "-c",
		"cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max")
	if f := strings.Fields(out); len(f) != 2 || f[0] != "268435456" || f[1] != "256" {
		t.Errorf("memory and pids limits read %q in the container, want 268435456 (256m) and 256", out)
	}
	e.assertClean()
}

func TestPullsMissingImageWithProgress(t *testing.T) {
	// hack/e2e-services.sh runs a registry on loopback; push the base image to
	// it under a fresh tag, so the bottle must pull it.
	ref := fmt.Sprintf("127.0.0.1:5000/bottle-e2e/base:%d-%d", os.Getuid(), time.Now().UnixNano())
	// Push from the local store: the remote client of 4.3.1 misreads a 5.x server's push stream.
	push := exec.Command("podman", "push", "--tls-verify=false", baseImage(), "docker://"+ref)
	push.Env = withoutEnv(os.Environ(), "CONTAINER_HOST")
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("push to the test registry: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("podman", "rmi", "-f", ref).Run() })
	e := newEnv(t, fmt.Sprintf(`
[agents.p]
extends = "t"
image = "%s"
`, ref))
	out, errs, code := e.run("start", "--yes", "p", "--", "-c", "echo pulled")
	if code != 0 || out != "pulled\n" {
		t.Fatalf("start: code %d, out %q, stderr %s", code, out, errs)
	}
	if !strings.Contains(errs, "pulling "+ref) || !strings.Contains(errs, "Copying blob") {
		t.Errorf("no pull progress on stderr:\n%s", errs)
	}
	e.assertClean()
}

func TestFailedBuildLeavesNothing(t *testing.T) {
	e := newEnv(t, `
[agents.broken]
containerfile = "broken/Containerfile"
command = ["/bin/sh"]
`)
	os.MkdirAll(filepath.Join(e.dir, "broken"), 0o755)
	cf := fmt.Sprintf("FROM %s\nRUN echo %d; exit 9\n", baseImage(), time.Now().UnixNano())
	os.WriteFile(filepath.Join(e.dir, "broken", "Containerfile"), []byte(cf), 0o644)
	leftovers := e.buildLeftovers()
	_, errs, code := e.run("start", "--yes", "broken")
	if code != exitFailure || !strings.Contains(errs, "build localhost/bottle-broken:") {
		t.Errorf("failed build: code %d, stderr %s", code, errs)
	}
	if n := e.buildLeftovers(); n != leftovers {
		t.Errorf("the failed build left %d working containers in the store", n-leftovers)
	}
	e.assertClean()
}

func TestHungSocketFailsWithItsName(t *testing.T) {
	// A socket that accepts and never answers: bottle must give up and say where.
	sock := filepath.Join(t.TempDir(), "hung.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	e := newEnv(t, "")
	e.extraEnv = []string{"CONTAINER_HOST=unix://" + sock}
	start := time.Now()
	_, errs, code := e.run("ls")
	if code != exitFailure || !strings.Contains(errs, sock) {
		t.Errorf("hung socket: code %d, stderr %q; want an error naming %s", code, errs, sock)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("gave up only after %s", d)
	}
}

func TestRootlessStartsPrivateServiceOrSaysWhatToInstall(t *testing.T) {
	if !rootless() {
		t.Fatal("rootless only (root always finds the rootful socket): hack/e2e.sh leaves it out of the rootful runs")
	}
	// No socket where the rootless client looks: bottle starts its own service for the command.
	runtime := t.TempDir()
	os.Chmod(runtime, 0o700)
	e := newEnv(t, "")
	e.extraEnv = []string{"XDG_RUNTIME_DIR=" + runtime, "CONTAINER_HOST="}
	out, errs, code := e.run("start", "--yes", "t", "--", "-c", "echo private service")
	if code != 0 || out != "private service\n" {
		t.Fatalf("start with no service running: code %d, out %q, stderr %s", code, out, errs)
	}
	if left, _ := filepath.Glob("/tmp/bottle-podman-*/podman.sock"); len(left) != 0 {
		t.Errorf("the private service's socket is still there: %v", left)
	}
	e.assertClean()

	// And no podman at all: one line saying what to install.
	e.extraEnv = append(e.extraEnv, "PATH=/nonexistent")
	_, errs, code = e.run("ls")
	if code != exitFailure || !strings.Contains(errs, "podman is not installed") || !strings.Contains(errs, "apt-get install podman") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("without podman: code %d, stderr %q", code, errs)
	}
}

func TestTerminalAttach(t *testing.T) {
	// A real terminal, driven the way a person would: tmux sends keys, captures the screen.
	e := newEnv(t, "")
	term := newTerminal(t, e, 90, 25, "start", "--yes", "t")
	// capture-pane trims the space after the prompt: look for a line ending in "$".
	prompt := regexp.MustCompile(`(?m)\$\s*$`)
	poll(t, 30*time.Second, "the agent's prompt", func() bool { return prompt.MatchString(term.screen()) })
	term.text("stty size; tty; echo typed-$((6*7))")
	term.keys("Enter")
	term.waitFor("the agent's answer", "typed-42")
	if s := term.screen(); !strings.Contains(s, "25 90") || !strings.Contains(s, "/dev/pts/") {
		t.Errorf("the agent should see a terminal of the window's size:\n%s", s)
	}
	term.text("exit 7")
	term.keys("Enter")
	done := filepath.Join(e.dir, "terminal-exit")
	poll(t, 15*time.Second, "bottle to exit", func() bool { _, err := os.Stat(done); return err == nil })
	if code, _ := os.ReadFile(done); strings.TrimSpace(string(code)) != "7" {
		t.Errorf("exit code through the terminal: %q, want 7", code)
	}
	e.assertClean()
}

func TestRunscNotRegisteredFailsBeforeCreatingAnything(t *testing.T) {
	e := newEnv(t, `
[agents.g]
extends = "t"
runtime = "runsc"
`)
	// containers.conf read last, as if runsc were registered at a path where nothing is installed.
	override := filepath.Join(e.dir, "containers-override.conf")
	os.WriteFile(override, []byte("[engine.runtimes]\nrunsc = [\"/nonexistent/runsc\"]\n"), 0o644)
	e.extraEnv = []string{"CONTAINERS_CONF_OVERRIDE=" + override}
	_, errs, code := e.run("start", "--yes", "g", "--", "-c", "true")
	if code != exitFailure || !strings.Contains(errs, `runtime "runsc" is not registered`) || !strings.Contains(errs, "[engine.runtimes]") {
		t.Errorf("runsc missing: code %d, stderr %s", code, errs)
	}
	e.assertClean()
}
