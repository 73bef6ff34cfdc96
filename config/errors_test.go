package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every problem a person can make in a config file is said in the file's
// terms (file, line, the key's dotted path, what it must be, what the file
// has), one line each, all of them at once, in the file's order.
func TestErrorsInTheFilesTerms(t *testing.T) {
	for _, tc := range []struct {
		name, user, workdir string
		want                []string
	}{{
		name: "wrong type at the top",
		user: "build_from = \"docker.io/library/golang:1.23\"\n",
		want: []string{`config.toml:1: build_from: must be a list of strings, not a string "docker.io/library/golang:1.23"`},
	}, {
		name: "wrong type in a profile",
		user: "[agents.x]\nextends = \"shell\"\npids = \"lots\"\nauto_resume = 1\nmemory = 1979-05-27\n",
		want: []string{
			`config.toml:3: agents.x.pids: must be a whole number, not a string "lots"`,
			`config.toml:4: agents.x.auto_resume: must be true or false, not an integer 1`,
			`config.toml:5: agents.x.memory: must be a string, not a date or time`,
		},
	}, {
		name: "wrong type in an array of tables",
		user: `[agents.x]
extends = "shell"
[[agents.x.egress]]
host = "a.example.com"
[[agents.x.egress]]
host = "b.example.com"
[[agents.x.egress]]
host = "c.example.com"
ports = "443"
`,
		want: []string{`config.toml:9: agents.x.egress[2].ports: must be a list of whole numbers, not a string "443"`},
	}, {
		name: "wrong type in an inline array",
		user: "[agents.x]\nextends = \"shell\"\ncommand = [\"sh\", 3]\nmemory = 4\n",
		want: []string{
			`config.toml:3: agents.x.command[1]: must be a string, not an integer 3`,
			`config.toml:4: agents.x.memory: must be a string, not an integer 4`,
		},
	}, {
		name: "several at once, in the file's order",
		user: `build_from = [1.5]
[agents.x]
extends = "shell"
cpus = true
workspace = ["copy"]
[agents.x.egress]
host = "example.com"
[agents.y]
extends = "shell"
git = "on"
env = { HOME = 1 }
[kubernetes]
namespace = 3
`,
		want: []string{
			`config.toml:1: build_from[0]: must be a string, not a float 1.5`,
			`config.toml:4: agents.x.cpus: must be a number, not a boolean true`,
			`config.toml:5: agents.x.workspace: must be a string, not an array`,
			`config.toml:6: agents.x.egress: must be a list of tables, not a table`,
			`config.toml:10: agents.y.git: must be a table, not a string "on"`,
			`config.toml:11: agents.y.env.HOME: must be a string, not an integer 1`,
			`config.toml:13: kubernetes.namespace: must be a string, not an integer 3`,
		},
	}, {
		name: "unknown keys and wrong types together",
		user: `agent = 1
[agents.x]
extends = "shell"
imgae = "x"
memory = 1
[[agents.x.egress]]
host = "example.com"
prots = [443]
intercept = "yes"
`,
		want: []string{
			`config.toml:1: agent: unknown key (did you mean "agents"?)`,
			`config.toml:4: agents.x.imgae: unknown key (did you mean "image"?)`,
			`config.toml:5: agents.x.memory: must be a string, not an integer 1`,
			`config.toml:8: agents.x.egress[0].prots: unknown key (did you mean "ports"?)`,
			`config.toml:9: agents.x.egress[0].intercept: must be true or false, not a string "yes"`,
		},
	}, {
		name: "invalid values of every profile",
		user: `[agents.x]
extends = "shell"
runtime = "kata"
memory = "lots"
[agents.y]
extends = "shell"
workspace = "mount"
pids = -1
[kubernetes]
namespace = "Team A"
registry = "a b"
`,
		want: []string{
			`config.toml:3: agents.x.runtime: "kata" is not a runtime (use "runc" or "runsc")`,
			`config.toml:4: agents.x.memory: "lots" is not a size (use a number with k, m or g, such as "4g")`,
			`config.toml:7: agents.y.workspace: "mount" is not a workspace mode (use "bind" or "copy")`,
			`config.toml:8: agents.y.pids: -1 is not a process limit (use a number above 0)`,
			`config.toml:10: kubernetes.namespace: "Team A" is not a namespace name (lower-case letters, digits and -)`,
			`config.toml:11: kubernetes.registry: "a b" is not a registry (host[:port][/path])`,
		},
	}, {
		// What validation says of a profile whose shape was wrong follows
		// from what was left out; another profile's invalid value is said.
		name: "wrong types and invalid values together",
		user: `[agents.x]
extends = "shell"
command = 3
[agents.y]
extends = "shell"
runtime = "kata"
`,
		want: []string{
			`config.toml:3: agents.x.command: must be a list of strings, not an integer 3`,
			`config.toml:6: agents.y.runtime: "kata" is not a runtime (use "runc" or "runsc")`,
		},
	}, {
		name:    "both files",
		user:    "[agents.x]\nextends = \"shell\"\nmemory = 1\n",
		workdir: "[agents.x]\nruntim = \"runsc\"\n[agents.y]\nextends = \"shell\"\nworkspace = 2\n",
		want: []string{
			`config.toml:3: agents.x.memory: must be a string, not an integer 1`,
			`bottle.toml:2: agents.x.runtim: unknown key (did you mean "runtime"?)`,
			`bottle.toml:5: agents.y.workspace: must be a string, not an integer 2`,
		},
	}, {
		name:    "narrowing, every key",
		user:    "[agents.x]\nextends = \"shell\"\nruntime = \"runsc\"\nmemory = \"1g\"\n",
		workdir: "[agents.x]\nruntime = \"runc\"\nmemory = \"2g\"\n",
		want: []string{
			`bottle.toml:2: agents.x.runtime: downgrades the runtime from runsc to runc (a working directory's bottle.toml may only narrow what the user's profile grants)`,
			`bottle.toml:3: agents.x.memory: raises memory above 1g (a working directory's bottle.toml may only narrow what the user's profile grants)`,
		},
	}, {
		// A value a person pasted in the wrong place may be a secret.
		name: "no secret repeated",
		user: `[agents.x]
extends = "shell"
signin = "sk-ant-api03-0123456789"
[[agents.x.egress]]
host = "api.example.com"
credential = "sk-ant-api03-0123456789"
`,
		want: []string{
			`config.toml:3: agents.x.signin: must be a table, not a string`,
			`config.toml:6: agents.x.egress[0].credential: must be a table, not a string`,
		},
	}, {
		name: "syntax error",
		user: "[agents.x]\nextends = \"shell\"\nmemory = 4g\npids = \"x\"\n",
		want: []string{`config.toml:3:11: expected a top-level item to end with a newline, comment, or EOF, but got 'g' instead`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			os.WriteFile("config.toml", []byte(tc.user), 0o644)
			src := Sources{User: "config.toml", Explicit: true}
			if tc.workdir != "" {
				os.WriteFile("bottle.toml", []byte(tc.workdir), 0o644)
				src.Workdir = filepath.Join(dir, "bottle.toml")
			}
			_, err := Load(src)
			if err == nil {
				t.Fatalf("loaded without error, want:\n%s", strings.Join(tc.want, "\n"))
			}
			got := strings.ReplaceAll(err.Error(), filepath.Join(dir, "bottle.toml"), "bottle.toml")
			lines := strings.Split(got, "\n")
			if len(tc.want) > 1 {
				if head := lines[0]; head != fmt.Sprintf("%d problems in the config:", len(tc.want)) {
					t.Errorf("first line %q, want a count of %d problems", head, len(tc.want))
				}
				lines = lines[1:]
			}
			if strings.Join(lines, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, w := range []string{"int64", "float64", "destination", "[]string", "map[", "TOML value", "sk-ant"} {
				if strings.Contains(got, w) {
					t.Errorf("error says %q:\n%s", w, got)
				}
			}
			var es Errors
			if !errors.As(err, &es) || len(es) != len(tc.want) {
				t.Errorf("%T holds %d errors, want Errors of %d", err, len(es), len(tc.want))
			}
		})
	}
}
