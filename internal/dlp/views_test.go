package dlp

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Each of these carried a secret past the scanner before the views that
// undo them (found by trying, issue 11).
func TestFindsThroughViews(t *testing.T) {
	s := New([]string{injected})
	longB64 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("context line, ", 6) + ghToken + strings.Repeat(" more text", 5)))
	cases := []struct{ name, data, rule string }{
		{"json unicode escape", `{"note":"\u0067hp_` + ghToken[4:] + `"}`, "github-token"},
		{"json every char escaped", `{"k":"` + jsonEscapeAll(ghToken) + `"}`, "github-token"},
		{"json escaped slash in base64", `{"k":"` + strings.ReplaceAll(base64.StdEncoding.EncodeToString([]byte("???"+ghToken+"???")), "/", `\/`) + `"}`, "github-token"},
		{"hex escapes", `s = "` + hexEscapeAll(ghToken) + `"`, "github-token"},
		{"mime base64 wrapped at 76", wrap(longB64, 76, "\r\n"), "github-token"},
		{"mime base64 wrapped in a json string", `{"b":"` + wrap(longB64, 76, `\n`) + `"}`, "github-token"},
		{"hex with colons", delimit(hex.EncodeToString([]byte(ghToken)), 2, ":"), "github-token"},
		{"hex with spaces", delimit(hex.EncodeToString([]byte(ghToken)), 2, " "), "github-token"},
		{"hex with dashes", delimit(hex.EncodeToString([]byte(ghToken)), 2, "-"), "github-token"},
		{"hex bytes in a list", "[0x" + delimit(hex.EncodeToString([]byte(ghToken)), 2, ", 0x") + "]", "github-token"},
		{"dot-separated characters", "t=" + delimit(ghToken, 1, "."), "github-token"},
		{"space-separated characters", "t=" + delimit(ghToken, 1, " "), "github-token"},
		{"reversed", "x " + reverse(ghToken) + " y", "github-token"},
		{"reversed aws", "k=" + reverse(awsKey) + ";", "aws-access-key-id"},
		{"injected reversed", "a " + reverse(injected), "injected-secret"},
		{"card with spaces", "card: 4111 1111 1111 1111 exp 12/29", "payment-card"},
		{"card with dashes", "5555-5555-5555-4444", "payment-card"},
		{"card plain", `{"pan":"378282246310005"}`, "payment-card"},
		{"iban", "pay to DE89370400440532013000 today", "iban"},
		{"iban grouped", "IBAN: GB29 NWBK 6016 1331 9268 19", "iban"},
		{"js string concatenation", `const k = "` + ghToken[:20] + `" + "` + ghToken[20:] + `";`, "github-token"},
		{"python adjacent literals on lines", "k = (\"" + ghToken[:12] + "\"\n    \"" + ghToken[12:28] + "\"\n    '" + ghToken[28:] + "')", "github-token"},
		{"php dot concatenation", `$k = '` + awsKey[:4] + `' . '` + awsKey[4:] + `';`, "aws-access-key-id"},
		{"sql || concatenation", `SELECT '` + awsKey[:10] + `' || '` + awsKey[10:] + `'`, "aws-access-key-id"},
		{"lowercased aws key id", `{"id":"` + strings.ToLower(awsKey) + `"}`, "aws-access-key-id"},
		{"binary digits in groups", bitsOf(ghToken, " "), "github-token"},
		{"binary digits in one run", "b=" + bitsOf(ghToken, ""), "github-token"},
		{"injected inside a wrapped block's line", wrap(strings.Repeat("QUJD", 19)+strings.Repeat("QUJD", 5)+injected+strings.Repeat("QUJD", 30), 76, "\n"), "injected-secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := s.Scan([]byte(tc.data), "body")
			if f == nil || f.Rule != tc.rule {
				t.Errorf("Scan(%.80q) = %+v, want rule %s", tc.data, f, tc.rule)
			}
		})
	}
}

func TestPaymentLookalikesPass(t *testing.T) {
	s := New(nil)
	for _, data := range []string{
		"4111 1111 1111 1112",                 // fails Luhn
		"id 1234567890123456",                 // no card prefix
		`{"ts":1733052345123,"n":4111111111}`, // too short
		"0.4111111111111111",                  // a float's digits
		"commit 4111111111111111a7",           // part of a hex string
		"DE89370400440532013001",              // mod-97 fails
		"ABCD1234EFGH5678IJKL9012 base32ish",  // no country
		"v4111111111111111",                   // part of an identifier
		"phone +49 30 1234 5678 9012",         // not a card length grouping that passes Luhn
		"sha256:4111111111111111411111111111111141111111111111114111111111111111",
	} {
		if f := s.Scan([]byte(data), "body"); f != nil {
			t.Errorf("%q flagged as %+v", data, f)
		}
	}
}

func TestWithout(t *testing.T) {
	s := New(nil).Without("payment-card")
	if f := s.Scan([]byte("4111 1111 1111 1111"), "body"); f != nil {
		t.Errorf("payment-card turned off, still found: %+v", f)
	}
	if f := s.Scan([]byte(ghToken), "body"); f == nil {
		t.Error("other rules must stay on")
	}
	if !slices.Contains(Rules(), "payment-card") || !slices.Contains(Rules(), "iban") {
		t.Errorf("Rules() = %v", Rules())
	}
}

func jsonEscapeAll(s string) string {
	var b strings.Builder
	for _, c := range s {
		fmt.Fprintf(&b, `\u%04x`, c)
	}
	return b.String()
}

func hexEscapeAll(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		fmt.Fprintf(&b, `\x%02x`, c)
	}
	return b.String()
}

func wrap(s string, width int, nl string) string {
	var parts []string
	for len(s) > width {
		parts = append(parts, s[:width])
		s = s[width:]
	}
	return strings.Join(append(parts, s), nl)
}

func delimit(s string, n int, d string) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), d)
}

func reverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

func TestScanHost(t *testing.T) {
	s := New(nil)
	for _, host := range []string{
		"assets.cdn.example.com", "github-production-release-asset-2e65be.cdn.example.com",
		"d1a2b3c4d5e6f7.cdn.example.com", "my-company-artifacts-prod.s3.us-east-1.cdn.example.com",
		"cdn.example.com", "mystorageaccount123.cdn.example.com",
	} {
		if f := s.ScanHost("*.cdn.example.com", host); f != nil {
			t.Errorf("%s flagged: %+v", host, f)
		}
	}
	for _, host := range []string{
		hex.EncodeToString([]byte(awsKey)) + ".cdn.example.com",
		"x7kq9zt2m4vn8bw3c6ry1pd5hf0j.cdn.example.com",
		"a.b.c.d.e.f.cdn.example.com",
		strings.Repeat("abcdefghij", 5) + ".cdn.example.com",
		"0123456789abcdef0123456789abcdef.cdn.example.com",
	} {
		if f := s.ScanHost("*.cdn.example.com", host); f == nil {
			t.Errorf("%s passed", host)
		}
	}
	if f := s.ScanHost("exact.example.com", "x7kq9zt2m4vn8bw3c6ry1pd5hf0j.exact.example.com"); f != nil {
		t.Errorf("an exact route leaves no labels free: %+v", f)
	}
	if f := s.Without("host-labels").ScanHost("*.cdn.example.com", "0123456789abcdef0123456789abcdef.cdn.example.com"); f != nil {
		t.Errorf("host-labels turned off: %+v", f)
	}
}

func bitsOf(s, sep string) string {
	var groups []string
	for _, c := range []byte(s) {
		groups = append(groups, fmt.Sprintf("%08b", c))
	}
	return strings.Join(groups, sep)
}
