package netrange

import (
	"net/netip"
	"testing"
)

func TestSpecial(t *testing.T) {
	special := []string{
		"0.0.0.0", "0.1.2.3", "10.1.2.3", "100.64.0.1", "100.127.255.254", "127.0.0.1", "127.255.0.9",
		"169.254.169.254", "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.1", "192.88.99.1",
		"192.168.1.1", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9", "224.0.0.1",
		"239.255.255.250", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::a9fe:a9fe",
		"100::1", "2001::1", "2001:db8::1", "2002:7f00:1::", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1",
	}
	for _, s := range special {
		if why, ok := Special(netip.MustParseAddr(s)); !ok {
			t.Errorf("%s is not special", s)
		} else if why == "" {
			t.Errorf("%s: no reason", s)
		}
	}
	for _, s := range []string{"1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.0", "172.32.0.1", "198.20.0.1", "2606:4700::1111", "::ffff:8.8.8.8"} {
		if why, ok := Special(netip.MustParseAddr(s)); ok {
			t.Errorf("%s is special (%s)", s, why)
		}
	}
}

func TestLocal(t *testing.T) {
	for _, h := range []string{"127.0.0.1", "[::1]", "169.254.169.254", "localhost", "api.localhost", "printer.local", "metadata.google.internal", "nas.home.arpa", "router.lan", "intranet", "LOCALHOST."} {
		if _, ok := Local(h); !ok {
			t.Errorf("%s is not local", h)
		}
	}
	for _, h := range []string{"api.anthropic.com", "registry.npmjs.org", "1.1.1.1", "example.com"} {
		if why, ok := Local(h); ok {
			t.Errorf("%s is local (%s)", h, why)
		}
	}
}
