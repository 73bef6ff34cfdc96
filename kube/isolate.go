package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Isolate shuts the network namespace it runs in, for IPv4 and IPv6, to
// everything but loopback and what the gateway's user sends: the rules a
// bottle's pod sets before any other of its containers starts. It uses
// iptables' legacy interface, which both the host's kernel and gVisor's
// network stack take.
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
			if out, err := exec.CommandContext(ctx, path, append([]string{"-w"}, r...)...).CombinedOutput(); err != nil {
				return fmt.Errorf("isolate the pod: %s %s: %v: %s", tool, strings.Join(r, " "), err, strings.TrimSpace(string(out)))
			}
		}
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
