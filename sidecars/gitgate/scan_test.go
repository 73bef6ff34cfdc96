package gitgate

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Secrets the scan tests plant; none may show in a refusal or the audit.
var (
	awsKey   = "AKIA" + "QYLPMN5HHHFPZAM2"                     // an AWS access key id of the documented shape
	ghToken  = "ghp_" + "R8vQ2mXk7LpN4sT9wZc3Yb6Hj1Fd5Ga0EeKu" // a GitHub token's shape
	shopify  = "shpat_" + "4f6c1b9e2d8a7035c6e1f9b2a8d4e7c3"   // a format gitleaks knows and the DLP does not
	planted  = []string{awsKey, ghToken, shopify, injectedSecret}
	pngStart = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00")
)

// gitWith runs git in dir with extra environment (an author's name, say).
func gitWith(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_TERMINAL_PROMPT=0")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// commitFile writes file and commits it with message, under env.
func commitFile(t *testing.T, dir, file string, content []byte, message string, env ...string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(filepath.Join(dir, file)), 0o755)
	if err := os.WriteFile(filepath.Join(dir, file), content, 0o644); err != nil {
		t.Fatal(err)
	}
	gitRun(t, dir, "add", "--", file)
	if out, err := gitWith(dir, env, "commit", "-qm", message); err != nil {
		t.Fatalf("commit %s: %v\n%s", file, err, out)
	}
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func zipped(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for name, data := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
	}
	w.Close()
	return b.Bytes()
}

func xzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func zstded(t *testing.T, data []byte) []byte {
	t.Helper()
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return w.EncodeAll(data, nil)
}

func tarred(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for name, data := range files {
		w.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data))})
		w.Write(data)
	}
	w.Close()
	return b.Bytes()
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range utf16.Encode([]rune(s)) {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

// binary is data git takes for binary (a NUL in it) with s inside.
func binary(s []byte) []byte {
	return append(append(append([]byte{}, pngStart...), s...), 0, 0, 0xff, 0xfe, 0, 1)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestGateScansEverythingAPushCarries: a secret anywhere in what a push
// carries is refused, the refusal naming the rule, where it was and the
// commit, never the secret: binary files (raw, and in the DLP's decoded
// views), compressed files and archives' members, commit and tag messages,
// authors and committers, file, branch and tag names; a binary or an
// expansion past max_binary is refused unscanned. Ordinary binaries,
// archives and messages pass. Each push goes through the real git client.
func TestGateScansEverythingAPushCarries(t *testing.T) {
	ws, url, dir := gateFor(t, config.GitRemote{Tags: true, MaxBinary: "1m"})
	clone := filepath.Join(t.TempDir(), "clone")
	gitRun(t, ws, "clone", "-q", url, clone)
	type tc struct {
		name string
		// make commits on a new branch (and tags), and says what to push.
		make func(t *testing.T, dir string) (push string)
		want []string // in the refusal: "{commit}" is the new commit's id, {aws} and {gh} the rules that find them
	}
	file := func(path string, content []byte) func(t *testing.T, dir string) string {
		return func(t *testing.T, dir string) string {
			commitFile(t, dir, path, content, "add a file")
			return ""
		}
	}
	refused := []tc{
		{"binary file", file("assets/logo.png", binary([]byte(" id="+awsKey+" "))),
			[]string{"{aws} in assets/logo.png", "commit {commit}"}},
		{"binary file, the injected secret base64-encoded", file("blob.bin", binary([]byte(base64.StdEncoding.EncodeToString([]byte(injectedSecret))))),
			[]string{"injected-secret", "blob.bin"}},
		{"binary file, a key in UTF-16", file("res.dll", binary(utf16le("key="+ghToken+";"))),
			[]string{"{gh}", "in res.dll (commit {commit})"}},
		{"gzip", file("logs/run.log.gz", gzipped(t, []byte("started\nexport GITHUB_TOKEN="+ghToken+"\ndone\n"))),
			[]string{"{gh} in logs/run.log.gz", "commit {commit}"}},
		{"zip member", file("dist/bundle.zip", zipped(t, map[string][]byte{"README": []byte("hello"), "config/.env": []byte("AWS_ACCESS_KEY_ID=" + awsKey + "\n")})),
			[]string{"{aws} in dist/bundle.zip:config/.env"}},
		{"tar.gz member", file("backup.tar.gz", gzipped(t, tarred(t, map[string][]byte{"home/.netrc": []byte("password " + ghToken + "\n")}))),
			[]string{"{gh} in backup.tar.gz:home/.netrc"}},
		{"zip inside gzip", file("nested.zip.gz", gzipped(t, zipped(t, map[string][]byte{"k.txt": []byte("k=" + awsKey)}))),
			[]string{"{aws} in nested.zip.gz:k.txt"}},
		{"commit message", func(t *testing.T, dir string) string {
			commitFile(t, dir, "a.txt", []byte("a\n"), "deploy\n\nused "+ghToken+" for the release")
			return ""
		}, []string{"{gh} in the commit message", "commit {commit}"}},
		{"author name", func(t *testing.T, dir string) string {
			commitFile(t, dir, "b.txt", []byte("b\n"), "b", "GIT_AUTHOR_NAME="+awsKey)
			return ""
		}, []string{"{aws} in the commit's author", "commit {commit}"}},
		{"committer email", func(t *testing.T, dir string) string {
			commitFile(t, dir, "c.txt", []byte("c\n"), "c", "GIT_COMMITTER_EMAIL="+base64.StdEncoding.EncodeToString([]byte(injectedSecret))+"@x.test")
			return ""
		}, []string{"injected-secret", "in the commit's committer", "commit {commit}"}},
		{"file name", file("notes/"+ghToken+".txt", []byte("nothing here\n")),
			[]string{"{gh} in a file's name", "commit {commit}"}},
		{"branch name", func(t *testing.T, dir string) string {
			commitFile(t, dir, "d.txt", []byte("d\n"), "d")
			return "HEAD:refs/heads/fix/" + ghToken
		}, []string{"{gh} in the branch's name"}},
		{"annotated tag message", func(t *testing.T, dir string) string {
			commitFile(t, dir, "e.txt", []byte("e\n"), "e")
			gitRun(t, dir, "tag", "-a", "v1.0.0", "-m", "release notes: "+awsKey)
			return "refs/tags/v1.0.0"
		}, []string{"{aws} in tag v1.0.0's message"}},
		{"tagger", func(t *testing.T, dir string) string {
			gitWith(dir, []string{"GIT_COMMITTER_NAME=" + ghToken}, "tag", "-a", "v1.0.1", "-m", "release")
			return "refs/tags/v1.0.1"
		}, []string{"{gh} in tag v1.0.1's tagger"}},
		{"tag name", func(t *testing.T, dir string) string {
			gitRun(t, dir, "tag", "rel-"+ghToken)
			return "refs/tags/rel-" + ghToken
		}, []string{"{gh} in the tag's name"}},
		{"tag of a blob", func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, "loose"), []byte("AWS_ACCESS_KEY_ID="+awsKey+"\n"), 0o644)
			blob := strings.TrimSpace(gitRun(t, dir, "hash-object", "-w", "loose"))
			gitRun(t, dir, "tag", "-a", "v-blob", "-m", "a blob", blob)
			return "refs/tags/v-blob"
		}, []string{"{aws} in tag v-blob's blob"}},
		{"xz", file("dump.sql.xz", xzipped(t, []byte("INSERT INTO keys VALUES ('"+awsKey+"');\n"))),
			[]string{"{aws} in dump.sql.xz (commit {commit})"}},
		{"zstd", file("cache.zst", zstded(t, []byte("token="+ghToken))),
			[]string{"{gh} in cache.zst (commit {commit})"}},
		{"a zip member's name", file("names.zip", zipped(t, map[string][]byte{"keys/" + ghToken: []byte("x")})),
			[]string{"{gh} in a member's name in names.zip (commit {commit})"}},
		{"a 7z archive", file("x.7z", append([]byte("7z\xbc\xaf\x27\x1c\x00\x04"), randomBytes(512)...)),
			[]string{"x.7z is a 7z archive, which the gate does not open"}},
		{"a gzip cut short", file("cut.gz", gzipped(t, []byte(strings.Repeat("padding ", 64)+awsKey))[:40]),
			[]string{"cut.gz looks like a gzip file but cannot be opened to scan"}},
		{"text named as an image, a key only gitleaks knows", file("logo.png", []byte("shopify = \""+shopify+"\"\n")),
			[]string{"shopify-access-token in logo.png (commit {commit})"}},
		{"a folder gitleaks skips as vendored", file("node_modules/left-pad/index.js", []byte("module.exports = \""+shopify+"\"\n")),
			[]string{"shopify-access-token in node_modules/left-pad/index.js (commit {commit})"}},
		{"symlink target", func(t *testing.T, dir string) string {
			os.Symlink("/tmp/"+ghToken, filepath.Join(dir, "link"))
			gitRun(t, dir, "add", "link")
			gitRun(t, dir, "commit", "-qm", "a link")
			return ""
		}, []string{"{gh} in link (commit {commit})"}},
		{"a commit header", func(t *testing.T, dir string) string {
			tree := strings.TrimSpace(gitRun(t, dir, "rev-parse", "HEAD^{tree}"))
			parent := strings.TrimSpace(gitRun(t, dir, "rev-parse", "HEAD"))
			obj := fmt.Sprintf("tree %s\nparent %s\nauthor t <t@t> 1700000000 +0000\ncommitter t <t@t> 1700000000 +0000\nx-note %s\n\nplain\n", tree, parent, awsKey)
			os.WriteFile(filepath.Join(dir, ".obj"), []byte(obj), 0o644)
			id := strings.TrimSpace(gitRun(t, dir, "hash-object", "-t", "commit", "-w", ".obj"))
			os.Remove(filepath.Join(dir, ".obj"))
			gitRun(t, dir, "reset", "-q", "--hard", id)
			return ""
		}, []string{"{aws} in the commit's headers (commit {commit})"}},
		{"a tag of a tree", func(t *testing.T, dir string) string {
			commitFile(t, dir, "tree/secret.txt", []byte("k="+awsKey+"\n"), "a tree")
			tree := strings.TrimSpace(gitRun(t, dir, "rev-parse", "HEAD:tree"))
			gitRun(t, dir, "reset", "-q", "--hard", "HEAD~1")
			gitRun(t, dir, "tag", "t-tree", tree)
			return "refs/tags/t-tree"
		}, []string{"{aws} in secret.txt (in the pushed object)"}},
		{"binary past max_binary", file("big.bin", randomBytes(1536<<10)),
			[]string{"big.bin", "larger than max_binary", "commit {commit}"}},
		{"gzip expanding past max_binary", file("zeros.gz", gzipped(t, make([]byte, 4<<20))),
			[]string{"zeros.gz", "expands past max_binary", "commit {commit}"}},
	}
	for i, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			branch := fmt.Sprintf("scan-%d", i)
			gitRun(t, clone, "checkout", "-q", "-b", branch, "origin/main")
			push := c.make(t, clone)
			if push == "" {
				push = "HEAD:refs/heads/" + branch
			}
			id := strings.TrimSpace(gitRun(t, clone, "rev-parse", "HEAD"))
			out, err := gitTry(clone, "push", "origin", push)
			if err == nil || !strings.Contains(out, "[remote rejected]") {
				t.Fatalf("push: %v, want it refused:\n%s", err, out)
			}
			for _, w := range c.want {
				re := strings.NewReplacer(`\{commit\}`, id[:12], `\{aws\}`, "(aws-access-key-id|aws-access-token)", `\{gh\}`, "(github-token|github-pat)").
					Replace(regexp.QuoteMeta(w))
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("the refusal does not say %q:\n%s", w, out)
				}
			}
			for _, s := range planted {
				if strings.Contains(out, s) && !strings.Contains(push, s) {
					t.Errorf("the refusal shows the secret:\n%s", out)
				}
			}
		})
	}
	audit, err := os.ReadFile(filepath.Join(dir, AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range planted {
		if bytes.Contains(audit, []byte(s)) {
			t.Errorf("the audit holds a planted secret:\n%s", audit)
		}
	}
	if n := bytes.Count(audit, []byte(`"refused"`)); n != len(refused) {
		t.Errorf("the audit has %d refusals, want %d", n, len(refused))
	}

	// What a repository ordinarily carries passes.
	gitRun(t, clone, "checkout", "-q", "-b", "ordinary", "origin/main")
	commitFile(t, clone, "img/pixel.png", binary(randomBytes(64<<10)), "an image")
	commitFile(t, clone, "vendor/lib.zip", zipped(t, map[string][]byte{"lib/a.go": []byte("package lib\n\nfunc A() int { return 1 }\n"), "lib/data.bin": randomBytes(4096)}), "a library")
	commitFile(t, clone, "testdata/fixture.json.gz", gzipped(t, []byte(`{"id": 1, "name": "fixture", "sha": "3f786850e387550fdab836ed7e6dc881de23001b"}`)), "a fixture")
	commitFile(t, clone, "src.tar.gz", gzipped(t, tarred(t, map[string][]byte{"src/main.c": []byte("int main(void) { return 0; }\n")})), "sources")
	commitFile(t, clone, "docs/readme.txt", []byte("see the docs\n"), "docs: explain the setup\n\nThe key in the example is AKIAIOSFODNN7EXAMPLE, as AWS documents it.", "GIT_AUTHOR_NAME=Ada Lovelace")
	gosum, err := os.ReadFile("../../go.sum") // a lock file: its hashes are no secret
	if err != nil {
		t.Fatal(err)
	}
	commitFile(t, clone, "go.sum", gosum, "dependencies")
	if out, err := gitTry(clone, "push", "origin", "ordinary"); err != nil {
		t.Fatalf("an ordinary push was refused: %v\n%s", err, out)
	}
	gitRun(t, clone, "tag", "-a", "v2.0.0", "-m", "Release 2.0.0\n\nNew: images, a library, fixtures.")
	if out, err := gitTry(clone, "push", "origin", "v2.0.0"); err != nil {
		t.Fatalf("an ordinary tag was refused: %v\n%s", err, out)
	}
}
