package containerfile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// allowed are the images the tests' person allows.
var allowed = []string{"localhost/base:1", "debian:bookworm-slim"}

func corpus(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.Containerfile"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in testdata/%s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = data
	}
	return out
}

// Every attack in testdata/refused is refused, each refusal on one line
// naming the file, the line and why.
func TestRefusedCorpus(t *testing.T) {
	for name, data := range corpus(t, "refused") {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(name, data)
			if err != nil {
				return // the build refuses what it cannot read
			}
			refusals := f.CheckIsolated(allowed)
			if len(refusals) == 0 {
				t.Fatalf("allowed:\n%s", data)
			}
			for _, r := range refusals {
				s := r.String()
				if strings.Contains(s, "\n") || !strings.HasPrefix(s, name+":") || r.Reason == "" || r.Line < 1 {
					t.Errorf("refusal %q", s)
				}
			}
			if err := f.Check(allowed); err == nil || strings.Contains(err.Error(), "\n") {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

// What testdata/allowed holds is allowed, and its canonical form reads as
// the same instructions, still allowed.
func TestAllowedCorpus(t *testing.T) {
	for name, data := range corpus(t, "allowed") {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(name, data)
			if err != nil {
				t.Fatal(err)
			}
			if r := f.CheckIsolated(allowed); len(r) > 0 {
				t.Fatalf("refused: %v", r)
			}
			sameAfterCanonical(t, f)
		})
	}
}

func sameAfterCanonical(t testing.TB, f *File) {
	t.Helper()
	canon := f.Canonical(allowed)
	g, err := Parse("canonical", canon)
	if err != nil {
		t.Fatalf("the canonical form does not parse: %v\n%s", err, canon)
	}
	if len(g.Instructions) != len(f.Instructions) {
		t.Fatalf("%d instructions became %d:\n%s", len(f.Instructions), len(g.Instructions), canon)
	}
	for i, a := range f.Instructions {
		b := g.Instructions[i]
		if a.Command != b.Command || !slices.Equal(a.Flags, b.Flags) || a.Heredoc != b.Heredoc ||
			(a.Command != "FROM" && !slices.Equal(a.Args, b.Args)) {
			t.Errorf("instruction %d: %+v became %+v", i, a, b)
		}
		if b.Line != i+1 {
			t.Errorf("instruction %d is on line %d of the canonical form", i, b.Line)
		}
	}
	if r := g.CheckIsolated(allowed); len(r) > 0 {
		t.Errorf("the canonical form is refused: %v\n%s", r, canon)
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		{"FROM localhost/base:1\nADD https://127.0.0.1:8080/x /x\n", `t:2: ADD https://127.0.0.1:8080/x /x: source https://127.0.0.1:8080/x could name a URL`},
		{"FROM localhost/person-private:latest\n", `t:1: FROM localhost/person-private:latest: FROM localhost/person-private:latest is neither the profile's own image nor in build_from`},
		{"FROM localhost/base:1\nRUN \\\n --mount=type=cache,target=/c true\n", `t:2: RUN  --mount=type=cache,target=/c true: RUN takes no flags here (--mount=type=cache,target=/c)`},
		{"FROM localhost/base:1\nCOPY --from=localhost/x /a /b\n", `t:2: COPY --from=localhost/x /a /b: copies from localhost/x, which is not an earlier stage`},
		{"FROM localhost/base:1\nRUN echo jq\u3000\u3000&& curl x\n", `t:2: RUN echo jq\u3000\u3000&& curl x:`},
	} {
		f, err := Parse("t", []byte(tc.file))
		if err != nil {
			t.Fatal(err)
		}
		err = f.Check(allowed)
		if strings.Contains(tc.file, "curl") {
			// Allowed, but shown with its hidden characters.
			if err != nil || !strings.HasPrefix(Show(f.Instructions[1]), `RUN echo jq\u3000`) {
				t.Errorf("%q: %v, shown %q", tc.file, err, Show(f.Instructions[1]))
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %s...", tc.file, err, tc.want)
		}
	}
}

func TestCanonicalNamesTheAllowedImage(t *testing.T) {
	f, err := Parse("t", []byte("FROM debian:bookworm-slim AS b\nFROM b\nCOPY --from=b /x /x\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "FROM debian:bookworm-slim AS b\nFROM b\nCOPY --from=b /x /x\n"
	if got := string(f.Canonical([]string{"docker.io/library/debian:bookworm-slim", "debian:bookworm-slim"})); got != "FROM docker.io/library/debian:bookworm-slim AS b\nFROM b\nCOPY --from=b /x /x\n" {
		t.Errorf("canonical:\n%s\nwant the person's spelling of the image:\n%s", got, want)
	}
	if imgs := f.Images(); !slices.Equal(imgs, []string{"debian:bookworm-slim"}) {
		t.Errorf("Images = %v", imgs)
	}
}

// Whatever parses and is allowed reads the same in its canonical form: no
// other reading of what the build is given can find other instructions.
func FuzzCanonical(f *testing.F) {
	for _, dir := range []string{"allowed", "refused"} {
		for _, data := range corpus(f, dir) {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz", data)
		if err != nil || len(file.CheckIsolated(allowed)) > 0 {
			return
		}
		sameAfterCanonical(t, file)
	})
}
