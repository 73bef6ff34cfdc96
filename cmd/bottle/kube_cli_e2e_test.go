//go:build e2e

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These need a cluster (hack/e2e.sh's kube phase).
var _ = needs([]string{cluster},
	TestKubeExecWithoutATerminal,
	TestKubeInterruptLeavesNothing,
	TestKubeCPUsAreACeiling,
	TestKubeLocalImageIsDelivered,
	TestKubeDoctorLooksAtTheCluster)

// The cluster's commands as a person uses them (issue 21): each of these
// failed with the binary before the engine seam.

// TestKubeExecWithoutATerminal: bottle exec on a cluster bottle with no
// terminal gives the command none, as on Podman: with stdin from
// /dev/null the output arrives, with a pipe the input does, lines end in
// LF, and stderr stays stderr.
func TestKubeExecWithoutATerminal(t *testing.T) {
	e := kubeEnv(t, "")
	id := strings.TrimSpace(e.mustRun("start", "--yes", "--detach", "k", "--", "sleep 300"))
	out, errs, code := e.run("exec", id, "--", "sh", "-c", "echo out; echo err >&2")
	if code != 0 || out != "out\n" || !strings.Contains(errs, "err") || strings.Contains(out, "err") {
		t.Errorf("exec with stdin from /dev/null: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	cmd := e.command("exec", id, "--", "sh", "-c", "cat; echo done")
	cmd.Stdin = strings.NewReader("piped\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stdout.String() != "piped\ndone\n" {
		t.Errorf("exec with a pipe: %v\nstdout %q\nstderr %q", err, stdout.String(), stderr.String())
	}
	e.mustRun("rm", id)
	kubeClean(t, e)
}

// TestKubeInterruptLeavesNothing: Ctrl-C while a start waits for the
// scheduler (a pod no node can take: the start says so, with the
// scheduler's reason), and SIGTERM during an attached run, each leave
// nothing on the cluster and no state.
func TestKubeInterruptLeavesNothing(t *testing.T) {
	e := kubeEnv(t, `
[agents.huge]
extends = "k"
memory = "4000g"
`)
	var stderr lockedBuffer
	cmd := e.command("start", "--yes", "huge", "--", "echo never")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGINT) }) // a test that stops early
	poll(t, 90*time.Second, "the start to say the scheduler cannot place the pod", func() bool {
		return strings.Contains(stderr.String(), "waits for the scheduler") && strings.Contains(stderr.String(), "Insufficient memory")
	})
	id := regexp.MustCompile(`bottle (huge-[0-9a-z]{5})`).FindStringSubmatch(stderr.String())
	if id == nil {
		t.Fatalf("no identity in:\n%s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err == nil {
		t.Errorf("an interrupted start exited 0:\n%s", stderr.String())
	}
	e.awaitTeardowns()
	if left := kubeLeftovers(t, id[1]); left != "" {
		t.Errorf("Ctrl-C while the pod waited for the scheduler left on the cluster:\n%s", left)
	}

	cmd = e.command("start", "--yes", "k", "--", "echo started; sleep 300")
	var stdout lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	poll(t, 120*time.Second, "the agent to run", func() bool { return strings.Contains(stdout.String(), "started") })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err == nil {
		t.Error("a run ended by SIGTERM exited 0")
	}
	kubeClean(t, e)
}

// TestKubeCPUsAreACeiling: cpus = 2 on a node of two CPUs is a limit, as
// on Podman, not a reservation: a second such bottle runs beside the first.
func TestKubeCPUsAreACeiling(t *testing.T) {
	e := kubeEnv(t, `
[agents.busy]
extends = "k"
cpus = 2
`)
	first := strings.TrimSpace(e.mustRun("start", "--yes", "--detach", "busy", "--", "sleep 300"))
	cmd := e.command("start", "--yes", "--detach", "busy", "--", "sleep 300")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	timer := time.AfterFunc(120*time.Second, func() { cmd.Process.Signal(syscall.SIGINT) })
	err := cmd.Run()
	timer.Stop()
	if err != nil {
		t.Errorf("the second bottle with cpus = 2: %v\n%s", err, stderr.String())
	}
	for _, id := range []string{first, strings.TrimSpace(stdout.String())} {
		if id != "" {
			e.run("rm", id)
		}
	}
	kubeClean(t, e)
}

// TestKubeLocalImageIsDelivered: a profile's image of this machine's own
// (localhost/...) reaches the cluster through the configured import, as a
// built one does.
func TestKubeLocalImageIsDelivered(t *testing.T) {
	tag := make([]byte, 4)
	rand.Read(tag)
	img := "localhost/bottle-e2e-local-" + hex.EncodeToString(tag) + ":1"
	if out, err := exec.Command("podman", "tag", baseImage(), img).CombinedOutput(); err != nil {
		t.Fatalf("podman tag: %v: %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("podman", "rmi", img).Run()
		exec.Command("ctr", "--address", "/run/containerd/containerd.sock", "-n", "k8s.io", "images", "rm", img).Run()
	})
	e := kubeEnv(t, `
[agents.local]
extends = "k"
image = "`+img+`"
`)
	out, errs, code := e.run("start", "--yes", "local", "--", "echo ran in the local image")
	if code != 0 || !strings.Contains(out, "ran in the local image") {
		t.Errorf("a localhost image on the cluster: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	kubeClean(t, e)
}

// TestKubeDoctorLooksAtTheCluster: bottle doctor checks the [kubernetes]
// a config has: the cluster answers there, the namespace is, images can
// get there; and says what is wrong when it does not.
func TestKubeDoctorLooksAtTheCluster(t *testing.T) {
	e := kubeEnv(t, "")
	out, _, _ := e.run("doctor")
	if !regexp.MustCompile(`(?m)^ok +kubernetes +kubernetes v1\.\d+\.\d+, context \S+, namespace default$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^ok +kubernetes +bottle's images are handed to ctr$`).MatchString(out) {
		t.Errorf("bottle doctor on the test cluster:\n%s", out)
	}
	bad := kubeEnvIn(t, "no-such-namespace", "")
	out, _, code := bad.run("doctor")
	if code == 0 || !regexp.MustCompile(`(?m)^FAIL +kubernetes +kubernetes: the cluster of context \S+ has no namespace no-such-namespace$`).MatchString(out) {
		t.Errorf("bottle doctor with a namespace that is not there: exit %d\n%s", code, out)
	}
}
