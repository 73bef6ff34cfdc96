package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"github.com/urfave/cli/v2"
)

// The command reference (docs/commands.md) and the man pages (docs/man) are
// made from the CLI's own definitions, so they say what it takes: `make docs`
// writes them, and a test fails when the committed copies differ.

// commandReference is the reference of every visible command, as Markdown.
func commandReference(app *cli.App) string {
	var b strings.Builder
	b.WriteString("# Command reference\n\n")
	b.WriteString("<!-- Made from bottle's command definitions by `make docs`: edit those, not this file. -->\n\n")
	fmt.Fprintf(&b, "`bottle`: %s. Options may stand before or after a command's arguments; arguments after `--` go to the agent.\n", app.Usage)
	b.WriteString("The same text is in `bottle COMMAND --help` and the man pages (`man bottle`, `man bottle-COMMAND`).\n\n")
	b.WriteString("    " + synopsis(app.Name, app.VisibleFlags(), "COMMAND [OPTIONS] [ARGUMENTS...]") + "\n\n")
	b.WriteString("Global options, before or after the command:\n\n")
	writeOptions(&b, app.VisibleFlags())
	for _, c := range visible(app.Commands) {
		writeCommand(&b, app.Name, c)
	}
	return b.String()
}

func writeCommand(b *strings.Builder, parent string, c *cli.Command) {
	name := parent + " " + c.Name
	level := strings.Repeat("#", min(strings.Count(name, " ")+1, 4))
	fmt.Fprintf(b, "\n%s %s\n\n%s.\n", level, name, capital(c.Usage))
	if c.Description != "" {
		fmt.Fprintf(b, "\n%s\n", c.Description)
	}
	subs := visible(c.Subcommands)
	if len(subs) == 0 || c.Action != nil {
		fmt.Fprintf(b, "\n    %s\n", synopsis(name, c.VisibleFlags(), c.ArgsUsage))
		if flags := c.VisibleFlags(); len(flags) > 0 {
			b.WriteString("\n")
			writeOptions(b, flags)
		}
	}
	for _, s := range subs {
		writeCommand(b, name, s)
	}
}

func writeOptions(b *strings.Builder, flags []cli.Flag) {
	for _, f := range flags {
		names, usage := optionOf(f)
		fmt.Fprintf(b, "- `%s`: %s\n", strings.Join(names, "`, `"), usage)
	}
}

// manPages are bottle(1) and a page for each visible command,
// bottle-NAME(1), by file name.
func manPages(app *cli.App) map[string][]byte {
	pages := map[string][]byte{}
	cmds := visible(app.Commands)
	var m strings.Builder
	m.WriteString("% BOTTLE 1 \"\" \"bottle\" \"User Commands\"\n\n")
	fmt.Fprintf(&m, "# NAME\n\nbottle - %s\n\n", app.Usage)
	fmt.Fprintf(&m, "# SYNOPSIS\n\n%s\n\n", manSynopsis(app.Name, app.VisibleFlags(), "COMMAND [OPTIONS] [ARGUMENTS...]"))
	m.WriteString("# DESCRIPTION\n\n")
	m.WriteString("**bottle** runs an AI coding agent (Claude Code by default, or any command) unattended, with broad " +
		"permissions, inside a pod it cannot modify or escape: the agent's container, with no network but loopback, " +
		"and sidecars that are its only ways out: an egress proxy (allowlist, credential injection, secret scanning, audit), " +
		"a git gate to its Git remotes, and a supervise server where it asks for what it lacks and a person decides. " +
		"Options may stand before or after a command's arguments; arguments after **--** go to the agent.\n\n")
	m.WriteString("# GLOBAL OPTIONS\n\n")
	manOptions(&m, app.VisibleFlags())
	m.WriteString("# COMMANDS\n\n")
	for _, c := range cmds {
		fmt.Fprintf(&m, "**bottle-%s**(1)\n: %s\n\n", c.Name, manEscape(capital(c.Usage)))
	}
	m.WriteString("# EXIT STATUS\n\n")
	fmt.Fprintf(&m, "**bottle start** and **bottle resume** exit with the agent's code when it ran; %d when bottle itself failed "+
		"(as **podman run** does), %d when interrupted, 1 when the preflight was declined. Other commands exit 0 on success, %d on failure.\n\n",
		exitFailure, exitInterrupted, exitFailure)
	m.WriteString("# FILES\n\n")
	m.WriteString("*$XDG_CONFIG_HOME/bottle/config.toml*\n: your profiles (default *~/.config/bottle/config.toml*; **--config** or **BOTTLE_CONFIG** names another)\n\n")
	m.WriteString("*bottle.toml*\n: a working directory's profiles, which may add or narrow yours, never widen them\n\n")
	m.WriteString("*$XDG_STATE_HOME/bottle/*\n: each bottle's state, a folder per identity (default *~/.local/state/bottle/*)\n\n")
	m.WriteString("# SEE ALSO\n\n**podman**(1), **podman-system-service**(1)\n")
	pages["bottle.1"] = md2man.Render([]byte(m.String()))

	for _, c := range cmds {
		var p strings.Builder
		fmt.Fprintf(&p, "%% BOTTLE-%s 1 \"\" \"bottle\" \"User Commands\"\n\n", strings.ToUpper(c.Name))
		fmt.Fprintf(&p, "# NAME\n\nbottle-%s - %s\n\n", c.Name, c.Usage)
		p.WriteString("# SYNOPSIS\n\n")
		leaves := leavesOf("bottle", c)
		for _, l := range leaves {
			fmt.Fprintf(&p, "%s\n\n", manSynopsis(l.name, l.cmd.VisibleFlags(), l.cmd.ArgsUsage))
		}
		p.WriteString("# DESCRIPTION\n\n")
		fmt.Fprintf(&p, "%s.\n\n", manEscape(capital(c.Usage)))
		if c.Description != "" {
			fmt.Fprintf(&p, "%s\n\n", manEscape(c.Description))
		}
		if len(leaves) == 1 && leaves[0].cmd == c {
			if flags := c.VisibleFlags(); len(flags) > 0 {
				p.WriteString("# OPTIONS\n\n")
				manOptions(&p, flags)
			}
		} else {
			p.WriteString("# COMMANDS\n\n")
			for _, l := range leaves {
				fmt.Fprintf(&p, "## %s\n\n%s.\n\n", l.name, manEscape(capital(l.cmd.Usage)))
				manOptions(&p, l.cmd.VisibleFlags())
			}
		}
		p.WriteString("# SEE ALSO\n\n**bottle**(1)\n")
		pages["bottle-"+c.Name+".1"] = md2man.Render([]byte(p.String()))
	}
	return pages
}

type leaf struct {
	name string
	cmd  *cli.Command
}

// leavesOf are the commands under c that run something, with their full names.
func leavesOf(parent string, c *cli.Command) []leaf {
	name := parent + " " + c.Name
	var out []leaf
	subs := visible(c.Subcommands)
	if len(subs) == 0 || c.Action != nil {
		out = append(out, leaf{name, c})
	}
	for _, s := range subs {
		out = append(out, leavesOf(name, s)...)
	}
	return out
}

func manOptions(b *strings.Builder, flags []cli.Flag) {
	for _, f := range flags {
		names, usage := optionOf(f)
		fmt.Fprintf(b, "**%s**\n: %s\n\n", manEscape(strings.Join(names, ", ")), manEscape(capital(usage)))
	}
}

func visible(cmds []*cli.Command) []*cli.Command {
	var out []*cli.Command
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

// synopsis is a command line: the command, its options in brackets, its
// arguments.
func synopsis(name string, flags []cli.Flag, args string) string {
	parts := []string{name}
	for _, f := range flags {
		parts = append(parts, "["+optionShort(f)+"]")
	}
	if args != "" {
		parts = append(parts, args)
	}
	return strings.Join(parts, " ")
}

func manSynopsis(name string, flags []cli.Flag, args string) string {
	parts := []string{"**" + name + "**"}
	for _, f := range flags {
		parts = append(parts, manEscape("["+optionShort(f)+"]"))
	}
	if args != "" {
		parts = append(parts, manEscape(args))
	}
	return strings.Join(parts, " ")
}

// optionShort is a flag as a synopsis shows it: its name, and a placeholder
// for its value.
func optionShort(f cli.Flag) string {
	s := dashed(f.Names()[0])
	if placeholder := placeholderOf(f); placeholder != "" {
		s += " " + placeholder
	}
	return s
}

// optionOf is a flag's names with its value's placeholder, and what it does,
// with its default and environment variable.
func optionOf(f cli.Flag) (names []string, usage string) {
	for _, n := range f.Names() {
		names = append(names, dashed(n))
	}
	if placeholder := placeholderOf(f); placeholder != "" {
		names[0] += " " + placeholder
	}
	d, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return names, ""
	}
	usage = strings.ReplaceAll(d.GetUsage(), "`", "")
	if d.TakesValue() {
		if v := d.GetDefaultText(); v != "" {
			usage += " (default: " + v + ")"
		} else if v := d.GetValue(); v != "" && v != `""` {
			usage += " (default: " + v + ")"
		}
	}
	if env := d.GetEnvVars(); len(env) > 0 {
		usage += " (environment: " + strings.Join(env, ", ") + ")"
	}
	return names, usage
}

var backquoted = regexp.MustCompile("`([^`]+)`")

// placeholderOf is the name a flag's value goes by: the back-quoted word of
// its usage (as --help shows it), else its name in capitals; "" for a switch.
func placeholderOf(f cli.Flag) string {
	d, ok := f.(cli.DocGenerationFlag)
	if !ok || !d.TakesValue() {
		return ""
	}
	if m := backquoted.FindStringSubmatch(d.GetUsage()); m != nil {
		return m[1]
	}
	return strings.ToUpper(f.Names()[0])
}

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// manEscape keeps Markdown from reading a command line's brackets, stars
// and underscores as links and emphasis.
func manEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`, `<`, `\<`, `>`, `\>`, "`", "\\`").Replace(s)
}
