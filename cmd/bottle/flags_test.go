package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/cliargs"
)

// Flags stand anywhere before "--", as Podman's and kubectl's do: each
// command line is reordered for urfave/cli, which reads a command's flags
// only before its first argument.
func TestIntersperse(t *testing.T) {
	cases := []struct{ name, args, want string }{
		{"flags first already", "start -d --yes shell", "start -d --yes shell"},
		{"bool flags after the argument", "start shell -d --dry-run", "start -d --dry-run shell"},
		{"short alias", "logs shell-abcde -f", "logs -f shell-abcde"},
		{"short alias before a service", "logs shell-abcde -f egress", "logs -f shell-abcde egress"},
		{"bool with its value", "start shell --keep=false", "start --keep=false shell"},
		{"--name=value", "start shell --engine=podman", "start --engine=podman shell"},
		{"--name value", "start shell --engine podman -y", "start --engine podman -y shell"},
		{"a value that looks like a flag", "deny shell-abcde r1 --reason -d", "deny --reason -d shell-abcde r1"},
		{"between the arguments", "approve shell-abcde --upstream https://m.test r1 --allow-local", "approve --upstream https://m.test --allow-local shell-abcde r1"},
		{"subcommand", "kube manifest claude --namespace ns --storage=2Gi", "kube manifest --namespace ns --storage=2Gi claude"},
		{"subcommand's help", "config show shell -h", "config show -h"},
		{"help", "start shell --help -d", "start --help -d"},
		{"the app's flags go before the command", "start shell --debug -d --config c.toml", "--debug --config c.toml start -d shell"},
		{"the app's flags before the command stay", "--config c.toml start shell -d", "--config c.toml start -d shell"},
		{"an unknown flag moves, to be refused", "start shell --bogus", "start --bogus shell"},
		{"an unknown flag takes no value", "start shell --bogus x", "start --bogus shell x"},
		{"a negative number stays an argument", "port shell-abcde -1 8080", "port shell-abcde -1 8080"},
		{"a dash alone stays an argument", "logs shell-abcde -", "logs shell-abcde -"},
		{"exec's command is left as it is", "exec shell-abcde ls -l --yes -h", "exec shell-abcde ls -l --yes -h"},
		{"exec's own help", "exec -h", "exec -h"},
		{"completion's marker stays last", "logs shell-abcde -f --generate-bash-completion", "logs -f shell-abcde --generate-bash-completion"},
		{"a value missing at the end", "start shell --engine", "start --engine shell"},
		{"no command", "", ""},
	}
	app := newApp(&globals{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bottle"}, strings.Fields(tc.args)...)
			want := append([]string{"bottle"}, strings.Fields(tc.want)...)
			if got := cliargs.Intersperse(app, args); !slices.Equal(got, want) {
				t.Errorf("Intersperse(%q)\n got %q\nwant %q", args, got, want)
			}
		})
	}
}
