package egress

import (
	"testing"
)

// TestOutsideKeyInPDFAscii85: a key in a PDF's ASCII85Decode stream,
// which ends with ~> and has no <~ (only Adobe's framing, both ends, was
// read): on main each got out. What comes before a ~> that no <~ opened is
// decoded now, at the five alignments its start may have.
func TestOutsideKeyInPDFAscii85(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	env := "GITHUB_TOKEN=" + outsideGitHub + "\n"
	pdf := func(stream string) string {
		return "%PDF-1.4\n4 0 obj\n<< /Length 90 /Filter /ASCII85Decode >>\nstream\n" + stream + "\nendstream\nendobj\n%%EOF\n"
	}
	refusedAll(t, o, F, map[string]string{
		"a stream":         post("/upload", F, "application/pdf", pdf(a85(env)+"~>")),
		"after one byte":   post("/upload", F, "application/pdf", pdf(a85("x"+env)+"~>")),
		"wrapped in lines": post("/upload", F, "application/pdf", pdf(wrap(a85("ab"+env), 20)+"~>")),
		"aws, plain text":  textPost(F, a85("id "+outsideAWS+" ")+"~>"),
	})
	passedAll(t, o, F, map[string]string{
		"a gemfile": textPost(F, "source 'https://rubygems.org'\ngem 'rails', '~> 7.1.0'\ngem 'puma', '~> 6.0'\ngem 'pg', '~> 1.5'\n"),
		"a pdf":     post("/upload", F, "application/pdf", pdf(a85("BT /F1 12 Tf 72 712 Td (Hello, world) Tj ET")+"~>")),
	})
}

// wrap breaks s into lines of n characters.
func wrap(s string, n int) string {
	out := ""
	for len(s) > n {
		out, s = out+s[:n]+"\n", s[n:]
	}
	return out + s
}
