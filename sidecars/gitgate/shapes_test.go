package gitgate

import (
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/config"
)

// TestGateScansKeysInOtherShapes: a push to the person's remote (which
// may be public) carrying a key in the shapes the egress proxy reads
// (issue 20, third round): in groups, as a list of its characters, in
// base58, in tag characters, as an xxd of the file. Code that looks a
// little like them passes.
func TestGateScansKeysInOtherShapes(t *testing.T) {
	ws, url, _ := gateFor(t, config.GitRemote{Tags: true, MaxBinary: "1m"})
	clone := t.TempDir() + "/clone"
	gitRun(t, ws, "clone", "-q", url, clone)
	var groups []string
	for i := 0; i < len(ghToken); i += 4 {
		groups = append(groups, ghToken[i:min(i+4, len(ghToken))])
	}
	n := new(big.Int).SetBytes([]byte(ghToken))
	var b58 []byte
	for m, b := new(big.Int), big.NewInt(58); n.Sign() > 0; {
		n.DivMod(n, b, m)
		b58 = append([]byte{"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"[m.Int64()]}, b58...)
	}
	var xxd strings.Builder
	env := "GITHUB_TOKEN=" + ghToken + "\n"
	for off := 0; off < len(env); off += 16 {
		line := env[off:min(off+16, len(env))]
		fmt.Fprintf(&xxd, "%08x: %x  %s\n", off, line, line)
	}
	for i, c := range []struct{ name, path, content string }{
		{"in groups of four", "notes.txt", "token: " + strings.Join(groups, " ") + "\n"},
		{"a list of its characters", "k.py", "K = ['" + strings.Join(strings.Split(awsKey, ""), "', '") + "']\n"},
		{"base58", "id.txt", string(b58) + "\n"},
		{"tag characters", "README.md", "# Title" + strings.Map(func(r rune) rune { return r + 0xE0000 }, ghToken) + "\n"},
		{"an xxd of the file", "env.hex", xxd.String()},
	} {
		t.Run(c.name, func(t *testing.T) {
			branch := fmt.Sprintf("shape-%d", i)
			gitRun(t, clone, "checkout", "-q", "-b", branch, "origin/main")
			commitFile(t, clone, c.path, []byte(c.content), "add "+c.path)
			out, err := gitTry(clone, "push", "origin", "HEAD:refs/heads/"+branch)
			if err == nil || !strings.Contains(out, "[remote rejected]") {
				t.Errorf("pushed: %v\n%s", err, out)
			}
		})
	}
	gitRun(t, clone, "checkout", "-q", "-b", "ordinary-shapes", "origin/main")
	code, err := os.ReadFile("content.go")
	if err != nil {
		t.Fatal(err)
	}
	commitFile(t, clone, "content.go", code, "code")
	commitFile(t, clone, "langs.py", []byte("LANGS = ['en', 'de', 'fr', 'es', 'it', 'pt', 'nl', 'sv', 'da', 'fi', 'no', 'pl', 'cs']\n"), "languages")
	commitFile(t, clone, "sums.txt", []byte("sha256: 9f86 d081 884c 7d65 9a2f eaa0 c55a d015 a3bf 4f1b 2b0b 822c d15d 6c15 b0f0 0a08\n"), "sums")
	if out, err := gitTry(clone, "push", "origin", "ordinary-shapes"); err != nil {
		t.Fatalf("an ordinary push was refused: %v\n%s", err, out)
	}
}
