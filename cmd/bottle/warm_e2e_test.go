//go:build e2e

package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// A claimed warm bottle is the bottle a cold start makes: its plan, what
// the engine reports of its pod and containers, and the files in its
// folder are a cold bottle's but for times and random names. Both reach
// a route with a credential (the secret, written into the running proxy's
// mounted file at the claim, is injected) and nothing else. The keeper a
// start runs in the background refills the pool; ls shows warm bottles
// apart; rm takes them; a change of the profile recycles the pool;
// nothing is left.
func TestAClaimedWarmBottleIsTheBottleAColdStartMakes(t *testing.T) {
	ee := newEgressEnv(t, "\n[agents.w]\nextends = \"p\"\nwarm = 1\n")
	// A keeper a start ran in the background is done before the test's
	// own cleanup looks for what is left.
	t.Cleanup(func() {
		if lock, err := (state.Root{Dir: ee.rootDir()}).LockPool(); err == nil {
			lock.Unlock()
		}
	})
	ee.mustRun("warm")
	warm := ee.warmBottles()
	if len(warm) != 1 {
		t.Fatalf("after bottle warm, warm bottles %v, want one", warm)
	}
	if out := ee.mustRun("ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("bottle ls -q lists warm bottles as the person's: %q", out)
	}
	if out := ee.mustRun("ls"); !strings.Contains(out, "Warm bottles") || !strings.Contains(out, warm[0]) {
		t.Errorf("bottle ls does not show the warm bottle apart:\n%s", out)
	}
	script := "probe get https://api.example.test/same; sleep 600"
	start := func() (id, plan string, claimed bool) {
		out, errs, code := ee.run("--debug", "start", "--yes", "-d", "w", "--", script)
		if code != 0 {
			t.Fatalf("bottle start exited %d\nstdout: %s\nstderr: %s", code, out, errs)
		}
		plan, claimed = plannedOf(t, errs)
		return strings.TrimSpace(out), plan, claimed
	}

	// The CA is each bottle's own, and its metadata says when it started.
	random := map[string]bool{"egress/ca.pem": true, "egress/ca.key": true, "agent/ca.pem": true, "agent/ca-bundle.pem": true, "metadata.json": true}
	// Each is looked at while its agent runs, once its request is through;
	// one at a time: two bind bottles of one working directory never run
	// together.
	seen := func(n int) {
		poll(t, time.Minute, "the bottle's request upstream", func() bool {
			reqs, _ := ee.tls.requests()
			return len(reqs) >= n
		})
	}
	// Rootful, its agent is made ahead, and the claim keeps it (docs/warm.md).
	agentID := func(id string) string {
		out, _ := exec.Command("podman", "inspect", "--format", "{{.Id}}", spec.ContainerName(id, "agent")).Output()
		return strings.TrimSpace(string(out))
	}
	ahead := agentID(warm[0])
	if (ahead != "") == rootless() {
		t.Errorf("the warm bottle's agent made ahead: %q (rootless: %v)", ahead, rootless())
	}
	claimedID, claimedPlan, claimed := start()
	if claimedID != warm[0] || !claimed {
		t.Fatalf("bottle start made %s (claimed: %v), want the warm bottle %s claimed", claimedID, claimed, warm[0])
	}
	if got := agentID(claimedID); ahead != "" && got != ahead {
		t.Errorf("the claim made its agent anew (%s), not the one made ahead (%s)", got, ahead)
	}
	seen(1)
	ci := inspectBottle(t, claimedID)
	sc := stateFiles(t, filepath.Join(ee.rootDir(), claimedID), claimedID, random)
	ee.mustRun("rm", claimedID)
	refilled := ee.awaitWarm(claimedID)
	// A warm bottle holds nothing of anyone's: no secret, no route (its
	// supervise configuration does describe its profile, the person's), no
	// working directory; of an agent's folder, only what its agent made
	// ahead mounts (docs/warm.md): the CA's copies, an empty home, the
	// stage with its empty folder and its pipe, and the agent's input
	// folder with its pipe (pod/input.go).
	rb := filepath.Join(ee.rootDir(), refilled)
	if data, err := os.ReadFile(filepath.Join(rb, "egress", "secrets.json")); err != nil || strings.TrimSpace(string(data)) != "{}" {
		t.Errorf("the warm bottle's secrets: %q (%v), want none", data, err)
	}
	madeAhead := []string{".", "ca.pem", "ca-bundle.pem", "home", "start", "start/empty", "start/go", "start/waiting", "start/input", "start/input/in"}
	filepath.WalkDir(filepath.Join(rb, "agent"), func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(filepath.Join(rb, "agent"), p)
		if err == nil && !slices.Contains(madeAhead, rel) {
			t.Errorf("the warm bottle's agent folder holds %s", rel)
		}
		return nil
	})
	filepath.WalkDir(rb, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			data, _ := os.ReadFile(p)
			for _, s := range []string{ee.secret, ee.workdir, "api.example.test"} {
				rel, _ := filepath.Rel(rb, p)
				if strings.Contains(string(data), s) && (s != "api.example.test" || !strings.HasPrefix(rel, "supervise/")) {
					t.Errorf("the warm bottle's %s holds %q", p, s)
				}
			}
		}
		return nil
	})
	ee.mustRun("rm", refilled)
	if w := ee.warmBottles(); len(w) != 0 {
		t.Fatalf("warm bottles %v after bottle rm of the only one", w)
	}

	coldID, coldPlan, claimed := start()
	if claimed || coldID == claimedID {
		t.Fatalf("with no warm bottle, bottle start claimed one (%s)", coldID)
	}
	seen(2)
	co := inspectBottle(t, coldID)
	so := stateFiles(t, filepath.Join(ee.rootDir(), coldID), coldID, random)
	last := ee.awaitWarm(claimedID, refilled, coldID)

	reqs, _ := ee.tls.requests()
	for _, r := range reqs {
		if got := r.Header.Get("x-api-key"); got != ee.secret || r.URL.Path != "/same" {
			t.Errorf("upstream saw %s with x-api-key %q, want /same with the secret", r.URL.Path, got)
		}
	}
	if d := differences(neutral(claimedPlan, claimedID), neutral(coldPlan, coldID)); len(d) > 0 {
		t.Errorf("the plans differ (- claimed, + cold):\n%s", strings.Join(d, "\n"))
	}
	for _, what := range sortedKeys(ci, co) {
		if d := differences(ci[what], co[what]); len(d) > 0 {
			t.Errorf("%s as the engine reports it differs (- claimed, + cold):\n%s", what, strings.Join(d, "\n"))
		}
	}
	if d := differences(sc, so); len(d) > 0 {
		t.Errorf("the state folders differ (- claimed, + cold):\n%s", strings.Join(d, "\n"))
	}

	ee.mustRun("rm", coldID)

	// A change of the profile recycles its pool: the keeper removes the
	// warm bottle made of the old one and makes one of the new.
	data, err := os.ReadFile(ee.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ee.config, append(data, "\n[agents.w.env]\nCHANGED = \"1\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	out := ee.mustRun("warm")
	now := ee.warmBottles()
	if !strings.Contains(out, "recycled warm bottle "+last) || len(now) != 1 || now[0] == last || !strings.Contains(out, "made warm bottle "+now[0]) {
		t.Errorf("after the profile changed, the keeper said %q and the warm bottles are %v (was %s)", out, now, last)
	}
	ee.mustRun(append([]string{"rm"}, now...)...)
	ee.assertClean()
}

// neutral is a plan's JSON flattened, its identity made neutral.
func neutral(plan, id string) []string {
	var v any
	json.Unmarshal([]byte(strings.ReplaceAll(plan, id, "IDENTITY")), &v)
	return flatten("", v, nil)
}

func sortedKeys(ms ...map[string][]string) []string {
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// A claimed warm bottle's workspace is mounted in its agent's container
// alone, never on the host (docs/warm.md): nothing of the working
// directory or the state root is mounted on the host while the agent runs,
// once the bottle is torn down, nor when its launcher is killed with the
// agent running, or killed after its claim but before its agent's
// go-ahead; gc removes both.
func TestAClaimedWarmBottleLeavesNoMountBehind(t *testing.T) {
	e := newEnv(t, "\n[agents.w]\nextends = \"t\"\nwarm = 1\n")
	t.Cleanup(func() {
		if lock, err := (state.Root{Dir: e.rootDir()}).LockPool(); err == nil {
			lock.Unlock()
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(e.rootDir(), state.PoolLog))
			t.Logf("the keeper's last log:\n%s", log)
		}
	})
	hostMounts := func() []string {
		data, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, e.workdir) || strings.Contains(line, e.rootDir()) {
				out = append(out, line)
			}
		}
		return out
	}
	e.mustRun("warm")
	first := e.warmBottles()
	if len(first) != 1 {
		t.Fatalf("warm bottles %v after bottle warm, want one", first)
	}
	_, errs, code := e.run("--debug", "start", "--yes", "w", "--", "-c", "grep -q ' /workspace ' /proc/self/mountinfo && echo in > /workspace/claimed")
	if _, claimed := plannedOf(t, errs); code != 0 || !claimed {
		t.Fatalf("the claiming start exited %d (claimed: %v): %s", code, claimed, errs)
	}
	if data, err := os.ReadFile(filepath.Join(e.workdir, "claimed")); err != nil || string(data) != "in\n" {
		t.Errorf("the claimed agent did not write its workspace: %q %v", data, err)
	}
	e.awaitTeardowns()
	if m := hostMounts(); len(m) > 0 {
		t.Errorf("a claimed bottle, torn down, left mounts on the host:\n%s", strings.Join(m, "\n"))
	}

	second := e.awaitWarm(first...)
	cmd := e.command("--debug", "start", "--yes", "w", "--", "-c", "echo up; sleep 3")
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "the claimed agent to run", func() bool { return strings.Contains(out.String(), "up") })
	if m := hostMounts(); len(m) > 0 {
		t.Errorf("a running claimed bottle has mounts on the host:\n%s", strings.Join(m, "\n"))
	}
	cmd.Process.Kill() // the launcher dies; the pod runs on, then its agent ends
	cmd.Wait()
	if _, claimed := plannedOf(t, stderr.String()); !claimed {
		t.Fatalf("the killed start did not claim %s: %s", second, stderr.String())
	}
	poll(t, 30*time.Second, "the killed claim's agent to end", func() bool {
		ps, _ := exec.Command("podman", "ps", "--filter", "label="+spec.LabelIdentity+"="+second, "--filter", "label="+spec.LabelService+"=agent", "--format", "{{.Names}}").Output()
		return strings.TrimSpace(string(ps)) == ""
	})
	if gc := e.mustRun("gc"); !strings.Contains(gc, second) {
		t.Errorf("gc did not remove the killed claim %s:\n%s", second, gc)
	}
	if m := hostMounts(); len(m) > 0 {
		t.Errorf("a killed claim, collected, left mounts on the host:\n%s", strings.Join(m, "\n"))
	}

	// Killed after its claim, before its agent's go-ahead (at its
	// preflight's question, on a terminal): rootful, the agent made ahead
	// runs, waiting for a go-ahead that never comes; gc removes it all the same.
	e.mustRun("rm", e.awaitWarm(first[0], second))
	e.mustRun("warm", "--tty") // made for a start on a terminal, as the keeper after one makes it
	third := e.warmBottles()
	if len(third) != 1 {
		t.Fatalf("warm bottles %v after bottle warm --tty, want one", third)
	}
	agentID := func(id string) string {
		out, _ := exec.Command("podman", "inspect", "--format", "{{.Id}}", spec.ContainerName(id, "agent")).Output()
		return strings.TrimSpace(string(out))
	}
	ahead := agentID(third[0])
	term := newTerminal(t, e, 160, 50, "start", "w", "--", "-c", "true")
	term.waitFor("the preflight's question", "Start it?")
	if got := agentID(third[0]); got != ahead {
		t.Errorf("at the preflight, the claimed bottle's agent is %q, want the one made ahead %q", got, ahead)
	}
	shell, err := strconv.Atoi(strings.TrimSpace(term.tmux("display-message", "-p", "-t", term.session, "#{pane_pid}")))
	if err != nil {
		t.Fatal(err)
	}
	children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", shell, shell))
	launcher, err := strconv.Atoi(strings.TrimSpace(string(children)))
	if err != nil {
		t.Fatalf("the start's process under the terminal's shell %d: %q", shell, children)
	}
	syscall.Kill(launcher, syscall.SIGKILL)
	poll(t, 30*time.Second, "the killed start's terminal to close", term.gone)
	// The keeper that start ran makes a warm bottle first (a gc meanwhile
	// could take the folder it has just made and not yet locked).
	fourth := e.awaitWarm(first[0], second, third[0])
	if gc := e.mustRun("gc"); !strings.Contains(gc, third[0]) {
		t.Errorf("gc did not remove %s, killed after its claim before its go-ahead:\n%s", third[0], gc)
	}
	if m := hostMounts(); len(m) > 0 {
		t.Errorf("a claim killed before its go-ahead left mounts on the host:\n%s", strings.Join(m, "\n"))
	}
	e.mustRun("rm", fourth)
	e.assertClean()
}
