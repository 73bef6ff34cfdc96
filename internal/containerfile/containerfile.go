// Package containerfile reads a Containerfile with the parser Podman's
// builder uses (openshift/imagebuilder's, itself BuildKit's) and decides
// whether it may be built isolated: a Containerfile that is not the
// person's own (a working directory's, an agent's approved request) gets a
// build with no network, and only what cannot reach past that: FROM the
// images the person allows, COPY and ADD from the build context, RUN with
// no mounts and no network of its own, and the instructions that only set
// metadata. The build is then given the file as checked (Canonical), one
// instruction a line, so no other reading of it can differ.
package containerfile

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/containers/image/v5/docker/reference"
	"github.com/openshift/imagebuilder/dockerfile/parser"
)

// Instruction is one instruction as the builder reads it.
type Instruction struct {
	Line    int      // the line it starts on, from 1
	Command string   // upper case: FROM, RUN, COPY, ...
	Flags   []string // as the parser split them: --chown=1000
	Args    []string // what follows the flags, as the parser split it
	// Original is the instruction on one line, its continuations joined,
	// as the builder is given it.
	Original string
	Heredoc  bool // it carries heredocs (<<EOF ... EOF)
}

// File is a parsed Containerfile.
type File struct {
	Name         string // as the person knows it, for messages
	Escape       rune   // the escape character (\ or `)
	Instructions []Instruction
}

// Parse reads a Containerfile; name says which, in messages.
func Parse(name string, data []byte) (*File, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := &File{Name: name, Escape: res.EscapeToken}
	for _, n := range res.AST.Children {
		in := Instruction{Line: n.StartLine, Command: strings.ToUpper(n.Value), Flags: n.Flags,
			Original: n.Original, Heredoc: len(n.Heredocs) > 0}
		for a := n.Next; a != nil; a = a.Next {
			in.Args = append(in.Args, a.Value)
		}
		f.Instructions = append(f.Instructions, in)
	}
	return f, nil
}

// Refusal is an instruction an isolated build does not allow, and why.
type Refusal struct {
	File        string
	Line        int
	Instruction string // shown, escaped and cut short
	Reason      string
	// Image is the image a FROM names that is not allowed ("" for any
	// other refusal): the person's config may allow it (build_from).
	Image string
}

// String is the refusal on one line: file, line, instruction, reason.
func (r Refusal) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", r.File, r.Line, r.Instruction, r.Reason)
}

// RefusedError is a Containerfile an isolated build does not allow.
type RefusedError struct{ Refusals []Refusal }

func (e *RefusedError) Error() string {
	s := e.Refusals[0].String() + " (not allowed in an isolated build)"
	if n := len(e.Refusals) - 1; n > 0 {
		s += fmt.Sprintf(", and %d more", n)
	}
	return s
}

// Show is an instruction as a person reads it: escaped where it would not
// show as itself (termtext.Visible), on one line.
func Show(in Instruction) string { return termtext.Visible(in.Original) }

// metadata are the instructions that only set what the image says of
// itself (or make a folder): nothing they do reaches past the build.
var metadata = map[string]bool{
	"ARG": true, "ENV": true, "LABEL": true, "MAINTAINER": true, "EXPOSE": true, "USER": true,
	"WORKDIR": true, "VOLUME": true, "ENTRYPOINT": true, "CMD": true, "SHELL": true,
	"STOPSIGNAL": true, "HEALTHCHECK": true,
}

var (
	// A stage's name, compared as written (as the builder does).
	stageName = regexp.MustCompile(`^[a-z][a-z0-9_.-]*$`)
	// A flag's value names a user, a mode or a stage: no quoting, no
	// escape, no variable (the builder expands flags before reading them).
	plainFlag    = regexp.MustCompile(`^--(chown|chmod)=[A-Za-z0-9_.:+=,-]+$|^--link(=true|=false)?$`)
	fromFlag     = regexp.MustCompile(`^--from=([A-Za-z0-9_.-]+)$`)
	healthFlag   = regexp.MustCompile(`^--(interval|timeout|start-period|start-interval|retries)=[A-Za-z0-9.]+$`)
	continuation = map[rune]*regexp.Regexp{'\\': regexp.MustCompile(`\\[ \t]*$`), '`': regexp.MustCompile("`[ \t]*$")}
)

// CheckIsolated lists what an isolated build does not allow in f; from are
// the images its FROM may name (besides scratch and its own earlier stages).
func (f *File) CheckIsolated(from []string) []Refusal {
	var out []Refusal
	refuse := func(in Instruction, format string, args ...any) {
		out = append(out, Refusal{File: f.Name, Line: in.Line, Instruction: cut(Show(in), 80), Reason: fmt.Sprintf(format, args...)})
	}
	var stages []string // earlier stages' names
	sawFrom := false
	for _, in := range f.Instructions {
		// Each instruction is given to the build on a line of its own: a
		// control character (a carriage return another reader drops, and
		// then sees a continuation) or a trailing escape would let it read
		// two lines as one.
		if i := strings.IndexFunc(in.Original, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }); i >= 0 || !utf8.ValidString(in.Original) {
			what := "is not valid UTF-8"
			if i >= 0 {
				what = fmt.Sprintf("holds a control character (U+%04X)", in.Original[i])
			}
			refuse(in, "%s", what)
			continue
		}
		if re := continuation[f.Escape]; re != nil && re.MatchString(in.Original) {
			refuse(in, "ends in a line continuation with nothing after it")
			continue
		}
		if in.Heredoc {
			refuse(in, "a heredoc is not allowed: put the file in the build context and COPY it")
			continue
		}
		switch c := in.Command; {
		case c == "FROM":
			if why, image := checkFrom(in, from, stages); why != "" {
				refuse(in, "%s", why)
				out[len(out)-1].Image = image
			}
			name := ""
			if len(in.Args) == 3 {
				if name = in.Args[2]; !stageName.MatchString(name) {
					refuse(in, "a stage's name is lower-case letters, digits and . _ - after a letter")
				}
			}
			stages = append(stages, name)
			sawFrom = true
		case !sawFrom && c != "ARG":
			refuse(in, "comes before the first FROM")
		case c == "RUN":
			if len(in.Flags) > 0 {
				refuse(in, "RUN takes no flags here (%s): --mount reads the person's images and build caches, --network and --security undo the build's isolation", termtext.Visible(in.Flags[0]))
			}
		case c == "COPY", c == "ADD":
			if why := checkCopy(in, stages); why != "" {
				refuse(in, "%s", why)
			}
		case c == "HEALTHCHECK":
			for _, fl := range in.Flags {
				if !healthFlag.MatchString(fl) {
					refuse(in, "flag %s is not allowed", termtext.Visible(fl))
				}
			}
		case metadata[c]:
			if len(in.Flags) > 0 {
				refuse(in, "%s takes no flags", c)
			}
		case c == "ONBUILD":
			refuse(in, "ONBUILD runs in a later build, unchecked")
		default:
			refuse(in, "%q is not an instruction", cut(termtext.Visible(c), 20))
		}
	}
	if !sawFrom {
		out = append(out, Refusal{File: f.Name, Line: 1, Instruction: "(the file)", Reason: "has no FROM"})
	}
	return out
}

// Check is CheckIsolated as an error: nil when the file may be built.
func (f *File) Check(from []string) error {
	if r := f.CheckIsolated(from); len(r) > 0 {
		return &RefusedError{Refusals: r}
	}
	return nil
}

// checkFrom says why a FROM is refused ("" when it is not): flags, a
// variable, or an image that is neither allowed nor an earlier stage; in
// that last case, which image (the person's config may yet allow it).
func checkFrom(in Instruction, from, stages []string) (why, image string) {
	if len(in.Flags) > 0 {
		return "FROM takes no flags here (" + termtext.Visible(in.Flags[0]) + ")", ""
	}
	if len(in.Args) != 1 && (len(in.Args) != 3 || !strings.EqualFold(in.Args[1], "as")) {
		return "FROM takes an image and, after AS, a stage's name", ""
	}
	img := in.Args[0]
	if strings.ContainsAny(img, "$\\`'\"") {
		return "the image must be written out, not made of variables, quotes or escapes", ""
	}
	if img == "scratch" || slices.Contains(stages, img) || allowedImage(img, from) != "" {
		return "", ""
	}
	return "FROM " + termtext.Visible(img) + " is neither the profile's own image nor in build_from in your config", img
}

// allowedImage is the entry of from that img names (as the person wrote
// it), or "".
func allowedImage(img string, from []string) string {
	want, err := normalized(img)
	if err != nil {
		return ""
	}
	for _, f := range from {
		if n, err := normalized(f); err == nil && n == want {
			return f
		}
	}
	return ""
}

func normalized(ref string) (string, error) {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	return reference.TagNameOnly(n).String(), nil
}

// checkCopy says why a COPY or ADD is refused: a flag other than chown,
// chmod, link (and, for COPY, --from an earlier stage), or a source that
// could name something outside the build context (a URL, a git
// repository: anything with a colon; a variable).
func checkCopy(in Instruction, stages []string) string {
	for _, fl := range in.Flags {
		if plainFlag.MatchString(fl) {
			continue
		}
		if m := fromFlag.FindStringSubmatch(fl); m != nil && in.Command == "COPY" && isStage(m[1], stages) {
			continue
		}
		if strings.HasPrefix(fl, "--from") {
			return "copies from " + termtext.Visible(strings.TrimPrefix(strings.TrimPrefix(fl, "--from"), "=")) + ", which is not an earlier stage of this file: only the build context and earlier stages may be copied from"
		}
		return "flag " + termtext.Visible(fl) + " is not allowed (only --chown, --chmod, --link, and COPY --from an earlier stage)"
	}
	if len(in.Args) < 2 {
		return in.Command + " takes sources and a destination"
	}
	for _, src := range in.Args[:len(in.Args)-1] {
		switch {
		case strings.Contains(src, ":"):
			return "source " + termtext.Visible(src) + " could name a URL or a git repository, which Podman fetches on the host's network: only files of the build context may be added"
		case strings.Contains(src, "$"):
			return "source " + termtext.Visible(src) + " is made of variables: write the path out"
		}
	}
	return ""
}

// isStage reports whether ref names an earlier stage: by its name, as
// written (the builder compares names as they are), or by its index.
func isStage(ref string, stages []string) bool {
	if ref != "" && slices.Contains(stages, ref) {
		return true
	}
	var n int
	if _, err := fmt.Sscanf(ref, "%d", &n); err == nil && fmt.Sprint(n) == ref {
		return n >= 0 && n < len(stages)
	}
	return false
}

// Images are the images f's FROM lines name (neither scratch nor an
// earlier stage), as written.
func (f *File) Images() []string {
	var out, stages []string
	for _, in := range f.Instructions {
		if in.Command != "FROM" || len(in.Args) == 0 {
			continue
		}
		img := in.Args[0]
		if img != "scratch" && !slices.Contains(stages, img) && !slices.Contains(out, img) {
			out = append(out, img)
		}
		if len(in.Args) == 3 {
			stages = append(stages, in.Args[2])
		}
	}
	return out
}

// Canonical is f as the build is given it, once CheckIsolated found
// nothing: one instruction a line, comments gone, each FROM naming its
// image as the person wrote it in from. No other reading of it (an older
// Podman's) can find another instruction in it.
func (f *File) Canonical(from []string) []byte {
	var b strings.Builder
	if f.Escape == '`' {
		b.WriteString("# escape=`\n")
	}
	var stages []string
	for _, in := range f.Instructions {
		if in.Command == "FROM" && len(in.Args) >= 1 {
			img := in.Args[0]
			if a := allowedImage(img, from); a != "" && img != "scratch" && !slices.Contains(stages, img) {
				img = a
			}
			line := "FROM " + img
			if len(in.Args) == 3 {
				line += " AS " + in.Args[2]
				stages = append(stages, in.Args[2])
			}
			b.WriteString(line + "\n")
			continue
		}
		b.WriteString(in.Original + "\n")
	}
	return []byte(b.String())
}

// cut shortens s to n runes, saying so.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
