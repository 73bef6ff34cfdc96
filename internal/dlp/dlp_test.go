package dlp

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fake keys in each format; built by concatenation so this file itself does
// not trip secret scanners.
var (
	ghToken  = "ghp_" + strings.Repeat("aB3dE6gH9j", 3) + "kLmNoP"
	awsKey   = "AKIA" + "Z7QW2ER4TY6UI8OP"
	injected = "bottle-test-secret-" + "9f8e7d6c5b4a"
)

func TestFinds(t *testing.T) {
	s := New([]string{injected})
	cases := []struct{ name, data, rule string }{
		{"github in query", "/search?q=" + ghToken, "github-token"},
		{"aws in json", `{"key":"` + awsKey + `"}`, "aws-access-key-id"},
		{"github base64", base64.StdEncoding.EncodeToString([]byte("token=" + ghToken)), "github-token"},
		{"github hex", hex.EncodeToString([]byte(ghToken)), "github-token"},
		{"github url-encoded", url.QueryEscape("x " + ghToken + " y"), "github-token"},
		{"github base64 of hex", base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString([]byte(ghToken)))), "github-token"},
		{"injected raw", "note: " + injected, "injected-secret"},
		{"injected base64", base64.StdEncoding.EncodeToString([]byte(injected)), "injected-secret"},
		{"injected hex", hex.EncodeToString([]byte(injected)), "injected-secret"},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn...", "private-key"},
		{"github base32", base32.StdEncoding.EncodeToString([]byte(ghToken)), "github-token"},
		{"github uppercase hex", strings.ToUpper(hex.EncodeToString([]byte(ghToken))), "github-token"},
		{"injected base64 misaligned", base64.StdEncoding.EncodeToString([]byte("xy" + injected)), "injected-secret"},
		{"injected in url-encoded base64", url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("k=" + injected + "&"))), "injected-secret"},
		{"jwt", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "jwt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := s.Scan([]byte(tc.data), "body")
			if f == nil || f.Rule != tc.rule {
				t.Errorf("Scan = %+v, want rule %s", f, tc.rule)
			}
		})
	}
}

func TestBenign(t *testing.T) {
	s := New([]string{injected})
	for _, data := range []string{
		`{"model":"claude","messages":[{"role":"user","content":"hello"}]}`,
		// a package-lock integrity hash: high entropy, no secret
		`"integrity": "sha512-Xk3E9dFlPbQ2c5B6hTqMfFvtEo9D1rZ3iHc8pXj8M0uL4Rz2WbYb0F4mZ4x3pQw7cVbN8aJ2sK1tLm5nO6pQ7r=="`,
		// a git commit id and a sha256
		"commit 3f7a1c9e2b4d6f8a0c1e3b5d7f9a1c3e5b7d9f1a sha256:" + strings.Repeat("0a1b2c3d", 8),
		// documentation example with the wrong length
		"export GITHUB_TOKEN=ghp_xxxxxxxxxxxx",
		"AKIAIOSFODNN7EXAMPLEX is not a key: too long",
		// code that joins strings, and lowercase words that start as AWS
		// key IDs do
		`msg := "the request carries a secret" + " (" + rule + ")"` + "\n" + `url = base + "/v1/" + "messages?beta=true"`,
		`log("connection_established_with" + "remote_peer_successfully")`,
		"akiatypewordsarelongtoo and asia-pacific-southeast-region1 in docs",
		"flags 00000001 00000010 00000011 00000100 permissions 0755 0644",
	} {
		if f := s.Scan([]byte(data), "body"); f != nil {
			t.Errorf("benign %q flagged as %+v", data, f)
		}
	}
}

func FuzzScan(f *testing.F) {
	f.Add([]byte(ghToken))
	f.Add([]byte(base64.StdEncoding.EncodeToString([]byte(injected))))
	f.Add([]byte(`k = "` + ghToken[:9] + `" + \"` + ghToken[9:] + `\"` + "\n\"akiaq2\" '01100111 01101000'"))
	f.Add([]byte("SELECT CHAR(103)+CHAR(104)+CHAR(112)+CHAR(95)+CHAR(97)+CHAR(66)+CHAR(51)+CHAR(100)+CHAR(69)+CHAR(54)+CHAR(103)+CHAR(72)"))
	f.Add([]byte(`{"c":"k = \"\\x67\\x68\\147\\u0070\"","p":"%5Cx67"}`))
	f.Add([]byte("<~" + ascii85Of("t "+ghToken) + "~>\nxbtoa Begin\n+<VdLz!!y\n" + uuencode("k", ghToken)))
	f.Add([]byte("tuc_" + rot13s(ghToken[4:]) + " begin 644 x\nM\"\\"))
	f.Add([]byte("k ghp_ aB3d E6gH 9jaB 3dE6 gH9j aB3d E6gH 9jkL mNoP\n" + ghToken[:20] + " " + ghToken[20:] + "\nAKIAZ-7QW2E-R4TY6-UI8OP ['g', 'h', 'p']"))
	f.Add([]byte("note\U000e0067\U000e0068 \U0001d420\U0001d421 g\u3164h\u3164p \U0001F600\ufe00\ufe01\U000e0100\U000e0101\U000e0102\U000e0103\U000e0104\U000e0105"))
	f.Add([]byte("k hjkl2v5jm6d1rrdkw4t3fm9rq0bmjrj5jsch4t7zjyyt6m1y9jt1gu0r2djnhrv8 n=12345678901234567890123456789012345 +AGcAaABwAF8-"))
	f.Add([]byte("00000000: 4748 5f54  GH_T\n0000000 147 150 160 137\n{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"} &lowbar;&Aopf; aban abil able"))
	s := New([]string{injected})
	u := s.Untrusted()
	f.Fuzz(func(t *testing.T, data []byte) {
		s.Scan(data, "body") // must not panic or hang
		u.Scan(data, "body")
	})
}

// TestBenignCorpus: bodies an agent really sends, full of things that look
// like secrets and are not. None may be blocked.
func TestBenignCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/benign/*")
	if len(files) == 0 {
		t.Fatal("no benign corpus")
	}
	s := New([]string{injected})
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Scan(data, "body"); got != nil {
			t.Errorf("%s flagged as %+v", f, got)
		}
	}
}

func TestScanURLEntropy(t *testing.T) {
	s := New(nil)
	if f := s.ScanURL("https://api.example.test/v1/x?d=Zk9xN2JwUXY0dGhYbTN5S2VwV2ZzTmdhTDVyQjFjdQ8xWk"); f == nil || f.Rule != "high-entropy-token" {
		t.Errorf("random token in a URL: %+v", f)
	}
	for _, ok := range []string{
		"https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz",
		"https://github.com/o/r/commit/3f7a1c9e2b4d6f8a0c1e3b5d7f9a1c3e5b7d9f1a",
		"https://api.example.test/v1/messages?beta=true",
		"https://example.test/items/123e4567-e89b-12d3-a456-426614174000",
		// an MCP SSE session (crypto/rand.Text): the name and the value are one run
		"https://mcp.example.test/sse?sessionid=QJ4RZKUYWNLDTC6XPMBE3HFA7S",
	} {
		if f := s.ScanURL(ok); f != nil {
			t.Errorf("benign URL %s flagged: %+v", ok, f)
		}
	}
}
