package archtest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxLines bounds a Go file of the module's code (tests aside; the
// programs under testdata count): a longer file is usually two, and is
// split along its seam, by what each part holds.
const maxLines = 450

// TestNoLongFiles fails on a non-test Go file of more than maxLines lines.
func TestNoLongFiles(t *testing.T) {
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if n := bytes.Count(data, []byte("\n")); n > maxLines {
			rel, _ := filepath.Rel("../..", p)
			t.Errorf("%s has %d lines, more than %d: split it along a seam", filepath.ToSlash(rel), n, maxLines)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
