package inpod

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Isolate shuts the network namespace it runs in, for IPv4 and IPv6, to
// everything but loopback and what the gateway's user sends: the rules a
// bottle's pod sets before any other of its containers starts. It uses
// iptables' legacy interface, which both the host's kernel and gVisor's
// network stack take. Nothing else leaves: a TCP connection is answered,
// from within the pod, by a reset (refused at once, as with Podman's
// network "none", where a dropped one would wait for its timeout: the
// agent's tools, and the go-ahead's proof, learn it at once); anything
// else is dropped.
func Isolate(ctx context.Context, gatewayUID int64) error {
	for _, tool := range []string{"iptables-legacy", "ip6tables-legacy"} {
		path, err := findTool(tool)
		if err != nil {
			return err
		}
		uid := fmt.Sprint(gatewayUID)
		rules := [][]string{
			{"-P", "OUTPUT", "DROP"}, {"-P", "FORWARD", "DROP"}, {"-F", "OUTPUT"},
			{"-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT"},
			{"-A", "OUTPUT", "-m", "owner", "--uid-owner", uid, "-j", "ACCEPT"},
		}
		for _, r := range rules {
			if err := iptables(ctx, path, r); err != nil {
				return err
			}
		}
		// The reset goes to the connecting socket, on loopback. A kernel
		// without the REJECT target leaves the drop, as whole.
		if err := iptables(ctx, path, []string{"-A", "OUTPUT", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"}); err != nil {
			fmt.Fprintf(os.Stderr, "%v (TCP is dropped, not refused)\n", err)
		}
	}
	return nil
}

// IsolateAndHold isolates the pod, makes done (the postStart hook's mark
// that holds the pod's other containers until then), and holds on until
// ctx ends: the isolation as a native sidecar.
func IsolateAndHold(ctx context.Context, gatewayUID int64, done string) error {
	if err := Isolate(ctx, gatewayUID); err != nil {
		return err
	}
	if err := Touch(done); err != nil {
		return fmt.Errorf("isolate the pod: %w", err)
	}
	<-ctx.Done()
	return nil
}

// iptables sets one rule.
func iptables(ctx context.Context, path string, rule []string) error {
	if out, err := exec.CommandContext(ctx, path, append([]string{"-w"}, rule...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("isolate the pod: %s %s: %v: %s", filepath.Base(path), strings.Join(rule, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// findTool looks for an iptables tool on PATH and in the sbin folders.
func findTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(dir + "/" + name); err == nil {
			return dir + "/" + name, nil
		}
	}
	return "", errors.New("isolate the pod: no " + name + " in the sidecar image")
}

// ProveIsolation tries each target from where it runs (the agent's
// container, as the agent's user): TCP host:port, or udp://host:port for a
// DNS server; it fails if any answers. A bottle's pod must not let the
// agent reach the cluster's API or its DNS on its own.
func ProveIsolation(ctx context.Context, targets []string, wait time.Duration) error {
	if len(targets) == 0 {
		return errors.New("prove the isolation: no target to try (neither the API server nor the cluster's Services were found)")
	}
	errs := make(chan error, len(targets))
	for _, t := range targets {
		go func() { errs <- tryReach(ctx, t, wait) }()
	}
	var first error
	for range targets {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func tryReach(ctx context.Context, target string, wait time.Duration) error {
	d := net.Dialer{Timeout: wait}
	if addr, ok := strings.CutPrefix(target, "udp://"); ok {
		c, err := d.DialContext(ctx, "udp", addr)
		if err != nil {
			return nil
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(wait))
		// A query for "." NS: any answer means the server is reachable. A
		// query the isolation drops on its way out fails to send (the
		// kernel says so at once): nothing left, nothing can answer.
		if _, err := c.Write([]byte{0x13, 0x37, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1}); err != nil {
			return nil
		}
		buf := make([]byte, 512)
		if n, err := c.Read(buf); err == nil && n > 0 {
			return fmt.Errorf("the agent's container reached the DNS server %s", addr)
		}
		return nil
	}
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("the agent's container reached %s", target)
}

// Reach tries each target (TCP host:port) from where it runs (the
// gateway's container, as its user) until it answers, again while it is
// refused, for up to wait: a cluster applies a changed NetworkPolicy a
// moment after it is made. It says which did not answer.
func Reach(ctx context.Context, targets []string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	var missed []string
	for _, t := range targets {
		for {
			c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", t)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				missed = append(missed, t)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if len(missed) > 0 {
		return fmt.Errorf("no answer from %s", strings.Join(missed, ", "))
	}
	return nil
}
