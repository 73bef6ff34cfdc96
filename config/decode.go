package config

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// ProfileName is what a profile may be called: it names bottles, their
// folders, pods and images, so it can never be a path.
var ProfileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$`)

// rawProfile is one [agents.NAME] table exactly as written: the profile's
// keys, and the two that say how to lay it over others.
type rawProfile struct {
	Extends string `toml:"extends"`
	Profile
	ReplaceEgress bool `toml:"replace_egress"`
}

type rawFile struct {
	Agents     map[string]rawProfile `toml:"agents"`
	Kubernetes *Kubernetes           `toml:"kubernetes"`
	BuildFrom  []string              `toml:"build_from"`
	// Repositories are the person's repositories a working directory's
	// git metadata may lead to (a worktree's main repository, one whose
	// objects a clone borrows): a repository may otherwise name only itself.
	Repositories []string `toml:"repositories"`
}

// profileKeys are the keys a profile may hold, from rawProfile's tags.
var _, profileKeys = tomlFields(reflect.TypeOf(rawProfile{}))

// layer is one parsed file: which keys each profile sets, and where.
type layer struct {
	file     string
	workdir  bool   // the working directory's file: paths stay inside it, and it only narrows
	dir      string // relative paths resolve against it; Embedded for the built-ins
	src      []byte
	profiles map[string]*layerProfile
	// kubernetes is the file's [kubernetes] table (nil: none).
	kubernetes *Kubernetes
	// buildFrom is the file's build_from (nil: none).
	buildFrom []string
	// repositories are the file's, made absolute (nil: none).
	repositories []string
	// shape are the file's unknown keys, values of the wrong type and
	// profile names that are not, each left out of the layer.
	shape Errors
}

type layerProfile struct {
	name string
	raw  rawProfile
	set  map[string]bool
}

func parseLayer(file, dir string, data []byte) (*layer, error) {
	var values map[string]any
	if _, err := toml.Decode(string(data), &values); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			// The parser stops at the first; its key is only the last it read.
			return nil, Errors{{File: file, Line: pe.Position.Line, Col: pe.Position.Col, Msg: pe.Message}}
		}
		return nil, Errors{{File: file, Msg: err.Error()}}
	}
	l := &layer{file: file, dir: dir, src: data, profiles: map[string]*layerProfile{}}
	l.shape = l.checkShape(values, reflect.TypeOf(rawFile{}))
	text := string(data)
	if len(l.shape) > 0 {
		// What is left is decoded, for validation to say what else is wrong.
		var b strings.Builder
		if err := toml.NewEncoder(&b).Encode(values); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		text = b.String()
	}
	var rf rawFile
	md, err := toml.Decode(text, &rf)
	if err != nil {
		// checkShape let through a value the decoder refuses: a bug here.
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, &Error{File: file, Line: l.lineOf(und[0]...), Key: dotted(und[0]), Msg: "unknown key"}
	}
	l.kubernetes, l.buildFrom = rf.Kubernetes, rf.BuildFrom
	for _, r := range rf.Repositories {
		l.repositories = append(l.repositories, l.resolve(r))
	}
	for _, name := range slices.Sorted(maps.Keys(rf.Agents)) {
		if !ProfileName.MatchString(name) {
			l.shape = append(l.shape, l.errorAt(name, "", fmt.Sprintf("%q is not a profile name (up to 40 letters, digits, and . _ - after the first)", name)))
			continue
		}
		raw := rf.Agents[name]
		lp := &layerProfile{name: name, raw: raw, set: map[string]bool{}}
		for _, k := range profileKeys {
			if md.IsDefined("agents", name, k) {
				lp.set[k] = true
			}
		}
		l.profiles[name] = lp
	}
	return l, nil
}

// lineOf finds the line that sets a key: the toml library keeps key
// positions to itself, so look for the key's last part after its table.
// An element of an array ("[2]") is found after its [[header]], or on the
// array's own line when the array is written inline.
func (l *layer) lineOf(key ...string) int {
	if len(key) == 0 || l.dir == Embedded {
		return 0
	}
	lines := strings.Split(string(l.src), "\n")
	start := 0
	for i, part := range key {
		n, err := strconv.Atoi(strings.Trim(part, "[]"))
		if !strings.HasPrefix(part, "[") || err != nil {
			continue
		}
		header := regexp.MustCompile(`^\s*\[\[\s*` + quotedPath(plainKey(key[:i])) + `\s*\]\]`)
		at := -1
		for j := start; j < len(lines) && at < 0; j++ {
			if header.MatchString(lines[j]) {
				if n == 0 {
					at = j
				}
				n--
			}
		}
		if at < 0 {
			return l.lineOf(key[:i]...)
		}
		if i == len(key)-1 {
			return at + 1
		}
		start = at
	}
	key = plainKey(key)
	if len(key) >= 2 {
		table := regexp.MustCompile(`^\s*\[\s*` + quotedPath(key[:len(key)-1]) + `\s*\]`)
		for i := start; i < len(lines); i++ {
			if table.MatchString(lines[i]) {
				start = i
				break
			}
		}
	}
	last := regexp.QuoteMeta(key[len(key)-1])
	assign := regexp.MustCompile(`(^|[\s.{,"'])"?` + last + `"?(\s*\.[^=]*)?\s*=`)
	header := regexp.MustCompile(`^\s*\[(?:[^\]]*[^\w\]-])?` + last + `(?:[^\w-][^\]]*)?\]`)
	for i := start; i < len(lines); i++ {
		if assign.MatchString(lines[i]) || header.MatchString(lines[i]) {
			return i + 1
		}
	}
	return 0
}

// plainKey is key without its array indices.
func plainKey(key []string) []string {
	return slices.DeleteFunc(slices.Clone(key), func(k string) bool { return strings.HasPrefix(k, "[") })
}

func quotedPath(parts []string) string {
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = `"?` + regexp.QuoteMeta(p) + `"?`
	}
	return strings.Join(q, `\s*\.\s*`)
}

// resolve makes a file key's value absolute, against the layer's folder
// (the built-ins' stay embedded); "~/" and absolute paths stay as written.
func (l *layer) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if l.dir == Embedded {
		return Embedded + p
	}
	return filepath.Join(l.dir, p)
}

// errorAt locates an error about a profile key in this layer.
func (l *layer) errorAt(profile, key, msg string) *Error {
	k := "agents." + profile
	if key != "" {
		k += "." + key
	}
	line := 0
	if key != "" {
		line = l.lineOf("agents", profile, key)
	}
	if line == 0 {
		line = l.lineOf("agents", profile)
	}
	return &Error{File: l.file, Line: line, Key: k, Msg: msg}
}

// suggest returns ` (did you mean "x"?)` for the closest known word, if any is close.
func suggest(word string, known []string) string {
	best := closest(word, known)
	if best == "" {
		return fmt.Sprintf(" (valid keys: %s)", strings.Join(known, ", "))
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// closest is the known word closest to word, if any is close.
func closest(word string, known []string) string {
	best, bestD := "", len(word)/2+2
	for _, k := range known {
		if d := distance(strings.ToLower(word), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein edit distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
