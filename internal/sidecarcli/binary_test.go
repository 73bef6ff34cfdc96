package sidecarcli

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// build builds a small program with ldflags (the Makefile's version
// stamp) into dir/name, as go build does for bottle, and returns its path.
func build(t *testing.T, src, dir, name, ldflags string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// The containers run the sidecar binary beside bottle when it is of the
// same build (links resolved), else bottle itself: when it is missing,
// not a Go program, built from another source or stamp, or when neither
// build says what it was built from.
func TestBinaryIsTheSidecarBinaryOfTheSameBuild(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "main.go")
	os.WriteFile(src, []byte("package main\n\nvar version string\n\nfunc main() { println(version) }\n"), 0o644)
	v1 := build(t, src, filepath.Join(base, "v1"), "prog", "-X main.version=v1")
	v2 := build(t, src, filepath.Join(base, "v2"), "prog", "-X main.version=v2")
	plain := build(t, src, filepath.Join(base, "plain"), "prog", "")

	cases := []struct {
		name string
		// bottle and sidecar are what the folder holds as bottle and as
		// bottle-sidecar ("" for none); link runs bottle through a link.
		bottle, sidecar string
		link            bool
		want            string // "sidecar" or "bottle"
	}{
		{"the same build", v1, v1, false, "sidecar"},
		{"the same build, bottle run through a link", v1, v1, true, "sidecar"},
		{"no sidecar binary (go install)", v1, "", false, "bottle"},
		{"another version stamp", v1, v2, false, "bottle"},
		{"another version stamp, the other way", v2, v1, false, "bottle"},
		{"a sidecar binary with no stamp", v1, plain, false, "bottle"},
		{"neither says what it was built from", plain, plain, false, "bottle"},
		{"not a program", v1, src, false, "bottle"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(base, "case", string(rune('a'+i)), "bin")
			bottle := filepath.Join(dir, "bottle")
			copyFile(t, tc.bottle, bottle)
			sidecar := filepath.Join(dir, Name)
			if tc.sidecar != "" {
				copyFile(t, tc.sidecar, sidecar)
			}
			exe := bottle
			if tc.link {
				exe = filepath.Join(base, "case", string(rune('a'+i)), "bottle-link")
				if err := os.Symlink(bottle, exe); err != nil {
					t.Fatal(err)
				}
			}
			self, err := buildinfo.ReadFile(bottle)
			if err != nil {
				t.Fatal(err)
			}
			want := exe
			if tc.want == "sidecar" {
				want = sidecar
			}
			if got := Binary(exe, self); got != want {
				t.Errorf("Binary(%s) = %s, want %s", exe, got, want)
			}
		})
	}
}
