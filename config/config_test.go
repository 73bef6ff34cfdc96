package config

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// load reads file as the user's config from inside testdata, so messages
// carry paths relative to it.
func load(t *testing.T, user, workdir string) (*Config, error) {
	t.Helper()
	t.Chdir("testdata")
	return Load(Sources{User: user, Explicit: user != "", Workdir: workdir})
}

func want(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// One line a problem: Load lists them all, in the file's order.
	var ws []string
	r := bufio.NewReader(f)
	for {
		line, _ := r.ReadString('\n')
		w, ok := strings.CutPrefix(strings.TrimSpace(line), "# want: ")
		if !ok {
			break
		}
		ws = append(ws, w)
	}
	switch len(ws) {
	case 0:
		t.Fatalf("%s: first line must be '# want: <error>'", file)
	case 1:
		return ws[0]
	}
	return fmt.Sprintf("%d problems in the config:\n%s", len(ws), strings.Join(ws, "\n"))
}

func TestInvalid(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid-*.toml")
	if len(files) < 10 {
		t.Fatalf("found only %d invalid-*.toml cases", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			w := want(t, f)
			_, err := load(t, name, "")
			if err == nil {
				t.Fatalf("loaded without error, want %q", w)
			}
			if err.Error() != w {
				t.Errorf("error:\n got %s\nwant %s", err, w)
			}
		})
	}
}

func TestNarrowing(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/narrow-*")
	for _, d := range dirs {
		name := filepath.Base(d)
		t.Run(name, func(t *testing.T) {
			wdFile := filepath.Join(d, "bottle.toml")
			var w string
			if name != "narrow-ok" {
				w = strings.ReplaceAll(want(t, wdFile), "bottle.toml:", filepath.Join(name, "bottle.toml")+":")
				abs, _ := filepath.Abs("testdata")
				w = strings.ReplaceAll(w, "{testdata}", abs)
			}
			c, err := load(t, filepath.Join(name, "config.toml"), filepath.Join(name, "bottle.toml"))
			if w == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if a := c.Agents["shell"]; a.Runtime != RuntimeRunsc || a.Workspace != WorkspaceCopy || a.Memory != "1g" {
					t.Errorf("shell = %+v, want runsc, copy, 1g", a)
				}
				if a := c.Agents["repo"]; a.Runtime != RuntimeRunsc || a.Args[1] != "make" {
					t.Errorf("repo = %+v, want runsc inherited from shell", a)
				}
				return
			}
			if err == nil || err.Error() != w {
				t.Errorf("error:\n got %v\nwant %s", err, w)
			}
		})
	}
}

func TestValid(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid-*.toml")
	abs, _ := filepath.Abs("testdata")
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			c, err := load(t, name, "")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(c.Agents, "", "  ")
			got = []byte(strings.ReplaceAll(string(got), abs, "TESTDATA") + "\n")
			golden := strings.TrimSuffix(name, ".toml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			w, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(got) != string(w) {
				t.Errorf("effective profiles differ from %s:\n%s", golden, got)
			}
		})
	}
}

func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(Sources{User: filepath.Join(dir, "none.toml"), Workdir: filepath.Join(dir, "bottle.toml")}); err != nil {
		t.Errorf("missing optional files: %v", err)
	}
	_, err := Load(Sources{User: filepath.Join(dir, "none.toml"), Explicit: true})
	if err == nil || !strings.Contains(err.Error(), "none.toml") {
		t.Errorf("missing --config file: got %v, want an error naming it", err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, w := range map[string]int64{"512m": 512 << 20, "4g": 4 << 30, "4GiB": 4 << 30, "1048576": 1 << 20, "1.5g": 3 << 29, "64k": 64 << 10} {
		if got, err := ParseBytes(in); err != nil || got != w {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, w)
		}
	}
	for _, in := range []string{"", "g", "-1g", "lots", "0"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) succeeded, want an error", in)
		}
	}
}

func TestDefaultSources(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/x")
	t.Setenv("BOTTLE_CONFIG", "")
	s, _ := DefaultSources("", "/w")
	if s.User != "/x/bottle/config.toml" || s.Explicit || s.Workdir != "/w/bottle.toml" {
		t.Errorf("XDG: %+v", s)
	}
	t.Setenv("BOTTLE_CONFIG", "/e.toml")
	if s, _ := DefaultSources("", "/w"); s.User != "/e.toml" || !s.Explicit {
		t.Errorf("BOTTLE_CONFIG: %+v", s)
	}
	if s, _ := DefaultSources("/f.toml", "/w"); s.User != "/f.toml" || !s.Explicit {
		t.Errorf("--config: %+v", s)
	}
}

// An isolated build may start FROM the image of the person's own profile
// a profile stands on, and the person's build_from; a working directory's
// own image source counts for nothing.
func TestTrustedImageSource(t *testing.T) {
	dir := t.TempDir()
	user := filepath.Join(dir, "config.toml")
	os.WriteFile(user, []byte("build_from = [\"localhost/extra:1\"]\n[agents.mine]\nimage = \"localhost/mine:1\"\ncommand = [\"sh\"]\n"), 0o644)
	wd := filepath.Join(dir, "work")
	os.MkdirAll(wd, 0o755)
	os.WriteFile(filepath.Join(wd, "bottle.toml"), []byte(`
[agents.mine]
containerfile = "Containerfile"
[agents.fresh]
containerfile = "Containerfile"
command = ["sh"]
[agents.kept]
extends = "mine"
memory = "1g"
[agents.onclaude]
extends = "claude"
containerfile = "Containerfile"
`), 0o644)
	c, err := Load(Sources{User: user, Workdir: filepath.Join(wd, "bottle.toml")})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]ImageSource{
		"mine":     {Image: "localhost/mine:1"},
		"kept":     {Image: "localhost/mine:1"},
		"fresh":    {},
		"onclaude": {Containerfile: Embedded + "claude.Containerfile", Context: Embedded + "."},
		"shell":    {Image: "docker.io/library/debian:bookworm-slim"},
	} {
		a := c.Agents[name]
		if a.Trusted != want {
			t.Errorf("%s: trusted %+v, want %+v", name, a.Trusted, want)
		}
		if len(a.BuildFrom) != 1 || a.BuildFrom[0] != "localhost/extra:1" {
			t.Errorf("%s: build_from %v", name, a.BuildFrom)
		}
	}
}
