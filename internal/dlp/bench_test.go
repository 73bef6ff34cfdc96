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
		// Source without test fixtures: the fake keys in tests are meant to be found.
		if err == nil && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") && sb.Len() < 1<<20 {
			data, _ := os.ReadFile(p)
			sb.Write(data)
		}
		return nil
	})
	return []byte(sb.String())
}

func BenchmarkScanCode(b *testing.B) {
	data := codeLike(b)
	s := New([]string{injected})
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		if f := s.Scan(data, "body"); f != nil {
			b.Fatalf("code flagged: %+v", f)
		}
	}
}
