// Package netrange knows the IANA special-purpose address ranges (RFC 6890
// and its successors: loopback, private, shared, link-local, documentation,
// benchmarking, multicast, reserved, and their IPv6 and IPv4-mapped forms)
// and the special-use names that reach this machine or its network. bottle
// refuses them unless a person names the address on purpose: an agent's way
// out is the internet, never the machine it runs on, nor its LAN.
package netrange

import (
	"net/netip"
	"strings"
)

type block struct {
	prefix netip.Prefix
	name   string
}

var blocks = func() []block {
	list := []struct{ cidr, name string }{
		{"0.0.0.0/8", "this network"},
		{"10.0.0.0/8", "private"},
		{"100.64.0.0/10", "shared address space (CGNAT)"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local"},
		{"172.16.0.0/12", "private"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.0.2.0/24", "documentation"},
		{"192.31.196.0/24", "AS112"},
		{"192.52.193.0/24", "AMT"},
		{"192.88.99.0/24", "6to4 relay anycast"},
		{"192.168.0.0/16", "private"},
		{"192.175.48.0/24", "AS112"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved"},
		{"255.255.255.255/32", "broadcast"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"64:ff9b::/96", "IPv4/IPv6 translation"},
		{"64:ff9b:1::/48", "IPv4/IPv6 translation"},
		{"100::/64", "discard-only"},
		{"2001::/23", "IETF protocol assignments"},
		{"2001:db8::/32", "documentation"},
		{"2002::/16", "6to4"},
		{"3fff::/20", "documentation"},
		{"5f00::/16", "segment routing"},
		{"fc00::/7", "unique local (private)"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local"},
		{"ff00::/8", "multicast"},
	}
	out := make([]block, len(list))
	for i, b := range list {
		out[i] = block{netip.MustParsePrefix(b.cidr), b.name}
	}
	return out
}()

// Special reports whether ip is in a special-purpose range, and which: an
// IPv4-mapped or IPv4-compatible IPv6 address is judged by its IPv4 address.
func Special(ip netip.Addr) (string, bool) {
	if !ip.IsValid() {
		return "not an address", true
	}
	ip = ip.Unmap()
	if ip.Is6() && !ip.Is4In6() {
		// ::a.b.c.d (IPv4-compatible, deprecated) is judged by its IPv4 too.
		if b := ip.As16(); isZero(b[:12]) && !isZero(b[12:]) && ip != netip.IPv6Loopback() {
			return Special(netip.AddrFrom4([4]byte(b[12:])))
		}
	}
	for _, b := range blocks {
		if b.prefix.Contains(ip) {
			return b.name + " " + b.prefix.String(), true
		}
	}
	return "", false
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// localSuffixes are special-use names (RFC 6761, RFC 8375, ICANN's .internal)
// and the private suffixes LANs use: names that lead to this machine or its network.
var localSuffixes = []string{"localhost", "local", "internal", "home.arpa", "lan", "intranet", "corp", "home", "localdomain"}

// Local reports whether host (a name or an address literal, with or without
// brackets) reaches this machine or its network, and why; a name that only
// resolves to such an address is caught where it is dialled.
func Local(host string) (string, bool) {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if ip, err := netip.ParseAddr(h); err == nil {
		return Special(ip)
	}
	if !strings.Contains(h, ".") {
		return "a single-label name, resolved on the local network", true
	}
	for _, s := range localSuffixes {
		if h == s || strings.HasSuffix(h, "."+s) {
			return "the special-use name ." + s, true
		}
	}
	return "", false
}
