// Package cliargs is how bottle's programs read a command line before the
// CLI library does: the agent's words after "--" kept apart, and flags
// allowed anywhere before them.
package cliargs

import (
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// Intersperse puts a command line's flags before its arguments, so that
// flags may stand anywhere, as Podman's and kubectl's users expect:
// urfave/cli stops reading a command's flags at its first argument. It is
// given the words before "--" (Split keeps the rest apart, untouched).
//
// A word after the command's name that is one of its flags moves before
// the command's arguments, with the next word when the flag takes a value
// and is not written --name=value; one of the app's own flags (--config,
// --debug) moves before the command's name. A word that looks like a flag
// but is none moves too, so urfave refuses it as it refuses one placed
// before the arguments. What stays: the words before the command's name, a
// number ("-1"), "-", the completion's marker (urfave looks for it last),
// and exec's words after the bottle, which are the command to run (as
// podman exec's are). With the help flag, the arguments go: urfave would
// take the first for a subcommand to show the help of.
func Intersperse(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var global, path, own, rest []string
	help := false
	flags, commands := app.Flags, app.Commands
	for i := 1; i < len(args); i++ {
		w := args[i]
		if len(path) == 1 && path[0] == "exec" && len(rest) == 1 {
			rest = append(rest, args[i:]...)
			break
		}
		if !flagWord(w) {
			if c := commandNamed(commands, w); c != nil && len(rest) == 0 {
				path = append(path, w)
				flags, commands = c.Flags, c.Subcommands
				continue
			}
			rest = append(rest, w)
			continue
		}
		f := flagNamed(flags, w)
		if len(path) > 0 && flagNamed([]cli.Flag{cli.HelpFlag}, w) != nil {
			help = true
		}
		to := &own
		switch {
		case len(path) == 0:
			to = &global // before the command: urfave reads these as they are
		case f == nil:
			if f = flagNamed(app.Flags, w); f != nil {
				to = &global
			}
		}
		*to = append(*to, w)
		if takesValue(f) && !strings.Contains(w, "=") && i+1 < len(args) {
			i++
			*to = append(*to, args[i])
		}
	}
	out := append([]string{args[0]}, global...)
	out = append(out, path...)
	out = append(out, own...)
	if help {
		return out
	}
	return append(out, rest...)
}

// Split cuts args at the first "--": the words before it, which the CLI
// library parses, and the agent's after it (has: there was a "--"), which
// it would drop the marker of.
func Split(args []string) (own, agent []string, has bool) {
	i := slices.Index(args, "--")
	if i < 0 {
		return args, nil, false
	}
	return args[:i], slices.Clone(args[i+1:]), true
}

// flagWord says whether w is written as a flag: a dash and more, but not
// a number, and not the shell completion's marker.
func flagWord(w string) bool {
	if len(w) < 2 || w[0] != '-' || w == "--"+cli.BashCompletionFlag.Names()[0] {
		return false
	}
	_, err := strconv.ParseFloat(w, 64)
	return err != nil
}

// flagNamed is the flag w names (-n, --name, --name=value), or nil.
func flagNamed(flags []cli.Flag, w string) cli.Flag {
	name, _, _ := strings.Cut(strings.TrimPrefix(w[1:], "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// takesValue says whether f reads the next word as its value (a bool does not).
func takesValue(f cli.Flag) bool {
	v, ok := f.(cli.DocGenerationFlag)
	return ok && v.TakesValue()
}

func commandNamed(commands []*cli.Command, w string) *cli.Command {
	for _, c := range commands {
		if c.HasName(w) {
			return c
		}
	}
	return nil
}
