package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// A link is a network namespace the bench makes itself, joined to the
// host's by a veth pair shaped to 1 Gbit/s each way (tc's token bucket):
// a real link's floor, with the bulk upstream on its far side. Its
// addresses are in the benchmarking block (198.18.0.0/15, RFC 2544), and
// the bench checks that nothing on the machine routes there before it,
// and that the route goes through its own pair after.
type link struct {
	ns, host, peer string
	hostIP, nsIP   string
}

func makeLink() (*link, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("needs root (a network namespace and tc)")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("needs %s", tool)
		}
	}
	id := os.Getpid() % 100000
	l := &link{ns: fmt.Sprintf("bottle-bench-%d", id), host: fmt.Sprintf("bbh%d", id), peer: fmt.Sprintf("bbn%d", id),
		hostIP: "198.18.0.1", nsIP: "198.18.0.2"}
	if out, _ := exec.Command("ip", "-o", "addr", "show", "to", "198.18.0.0/15").Output(); len(strings.TrimSpace(string(out))) > 0 {
		return nil, fmt.Errorf("198.18.0.0/15 is already on this machine: %s", out)
	}
	if out, _ := exec.Command("ip", "route", "show", "198.18.0.0/15").Output(); len(strings.TrimSpace(string(out))) > 0 {
		return nil, fmt.Errorf("198.18.0.0/15 is already routed here: %s", out)
	}
	steps := [][]string{
		{"ip", "netns", "add", l.ns},
		{"ip", "link", "add", l.host, "type", "veth", "peer", "name", l.peer},
		{"ip", "link", "set", l.peer, "netns", l.ns},
		{"ip", "addr", "add", l.hostIP + "/30", "dev", l.host},
		{"ip", "link", "set", l.host, "up"},
		{"ip", "netns", "exec", l.ns, "ip", "addr", "add", l.nsIP + "/30", "dev", l.peer},
		{"ip", "netns", "exec", l.ns, "ip", "link", "set", l.peer, "up"},
		{"ip", "netns", "exec", l.ns, "ip", "link", "set", "lo", "up"},
		{"tc", "qdisc", "add", "dev", l.host, "root", "tbf", "rate", "1gbit", "burst", "1mb", "latency", "50ms"},
		{"ip", "netns", "exec", l.ns, "tc", "qdisc", "add", "dev", l.peer, "root", "tbf", "rate", "1gbit", "burst", "1mb", "latency", "50ms"},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			l.close()
			return nil, fmt.Errorf("%s: %v: %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	// Before the first packet: the route to the far side is the pair's.
	out, err := exec.Command("ip", "-o", "route", "get", l.nsIP).Output()
	if err != nil || !strings.Contains(string(out), "dev "+l.host+" ") {
		l.close()
		return nil, fmt.Errorf("the route to %s is not through %s: %s", l.nsIP, l.host, out)
	}
	return l, nil
}

// in is the command prefix that runs a program on the link's far side.
func (l *link) in() []string { return []string{"ip", "netns", "exec", l.ns} }

func (l *link) close() {
	exec.Command("ip", "link", "del", l.host).Run()
	exec.Command("ip", "netns", "del", l.ns).Run()
}
