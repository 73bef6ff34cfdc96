package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Error is a problem in a config file, located as precisely as the file allows.
type Error struct {
	File string
	Line int // 0 when unknown
	Col  int // 0 when unknown: only the parser knows columns
	Key  string
	Msg  string
	// meant is the key an unknown one is probably a typo of (agents.x.image
	// for agents.x.imgae): what validation says of it follows from the typo.
	meant string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
		if e.Col > 0 {
			loc = fmt.Sprintf("%s:%d", loc, e.Col)
		}
	}
	msg := e.Msg
	if e.Key != "" {
		msg = e.Key + ": " + e.Msg
	}
	if loc == "" {
		return msg
	}
	return loc + ": " + msg
}

// Errors are every problem found in the config files, one line each, in
// the order of the files and of the lines in each.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	if len(es) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d problems in the config:\n%s", len(es), strings.Join(lines, "\n"))
}

func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// problems gathers the errors of a load, to report them all at once.
type problems struct {
	errs Errors
	// shape are the keys whose shape was wrong: each was left out, and
	// what validation then says of them follows from that.
	shape []string
}

// add records err, an *Error or Errors (nil: nothing).
func (p *problems) add(err error) {
	var es Errors
	var e *Error
	switch {
	case err == nil:
	case errors.As(err, &es):
		p.errs = append(p.errs, es...)
	case errors.As(err, &e):
		p.errs = append(p.errs, e)
	default:
		p.errs = append(p.errs, &Error{Msg: err.Error()})
	}
}

// shapeWrong records es, problems of a file's shape.
func (p *problems) shapeWrong(es Errors) {
	for _, e := range es {
		p.shape = append(p.shape, e.Key)
		if e.meant != "" {
			p.shape = append(p.shape, e.meant)
		}
	}
	p.errs = append(p.errs, es...)
}

// validation records what validating said, except what follows from a
// key left out for its shape.
func (p *problems) validation(err error) {
	var q problems
	q.add(err)
	for _, e := range q.errs {
		if !slices.ContainsFunc(p.shape, func(k string) bool { return follows(e.Key, k) }) {
			p.errs = append(p.errs, e)
		}
	}
}

// follows reports whether a problem with key may come of leaving out
// left: the same key (or one in it) of the same profile or table; any
// key of a profile whose extends was left out; a missing image of a
// profile whose image source was.
func follows(key, left string) bool {
	scope, field := splitKey(key)
	lscope, lfield := splitKey(left)
	if scope != lscope {
		return false
	}
	source := []string{"image", "containerfile", "context"}
	return field == lfield || lfield == "" || lfield == "extends" ||
		slices.Contains(source, field) && slices.Contains(source, lfield)
}

// splitKey parts a key into its profile (agents.NAME) or top-level key,
// and the key below that ("" for none).
func splitKey(key string) (scope, field string) {
	cut := func(s string) (string, string) {
		i := strings.IndexAny(s, ".[")
		if i < 0 {
			return s, ""
		}
		return s[:i], strings.TrimPrefix(s[i:], ".")
	}
	scope, rest := cut(key)
	if scope == "agents" {
		name, rest2 := cut(rest)
		scope, rest = "agents."+name, rest2
	}
	field, _ = cut(rest)
	return scope, field
}

// err is what was found, in the order of files (as first named) and of
// lines in each (errors without a line last), each said once; nil if none.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	var files []string
	for _, e := range p.errs {
		if !slices.Contains(files, e.File) {
			files = append(files, e.File)
		}
	}
	line := func(e *Error) int {
		if e.Line == 0 {
			return int(^uint(0) >> 1)
		}
		return e.Line
	}
	es := slices.Clone(p.errs)
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(slices.Index(files, a.File), slices.Index(files, b.File)), cmp.Compare(line(a), line(b)))
	})
	out := Errors{}
	seen := map[string]bool{}
	for _, e := range es {
		if s := e.Error(); !seen[s] {
			seen[s] = true
			out = append(out, e)
		}
	}
	return out
}
