package dlp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// codeLike is a few hundred KiB of source-like text: this repository's Go files.
func codeLike(b *testing.B) []byte {
	b.Helper()
	var sb strings.Builder
	filepath.Walk("../..", func(p string, fi os.FileInfo, err error) error {
		// Source without test fixtures: the fake keys in tests (and the
		// corpus' templates) are meant to be found, and so is the OAuth
		// client secret that the sign-in carries for Gemini's CLI (public,
		// but a credential in a credential's place).
		fixture := strings.HasSuffix(p, "_test.go") || strings.Contains(p, "/corpus/") || strings.Contains(p, "/testdata/") || strings.Contains(p, "/signin/")
		if err == nil && strings.HasSuffix(p, ".go") && !fixture && sb.Len() < 1<<20 {
			data, _ := os.ReadFile(p)
			sb.Write(data)
		}
		return nil
	})
	return []byte(sb.String())
}

func BenchmarkScanCode(b *testing.B) { benchScan(b, New([]string{injected})) }

// BenchmarkScanCodeUntrusted: the same, bound for a destination the
// bottle holds no credential for (credential names looked at too).
func BenchmarkScanCodeUntrusted(b *testing.B) { benchScan(b, New([]string{injected}).Untrusted()) }

func benchScan(b *testing.B, s *Scanner) {
	data := codeLike(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		if f := s.Scan(data, "body"); f != nil {
			b.Fatalf("code flagged: %+v", f)
		}
	}
}
