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

// Error is a problem in a config file, located as precisely as the file allows.
type Error struct {
	File string
	Line int // 0 when unknown
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key == "" {
		return loc + ": " + e.Msg
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
}

// typeErr matches the toml library's type-mismatch errors, which carry no
// structured position.
var typeErr = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\): (.*)$`)

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
var profileKeys = tagKeys(reflect.TypeOf(rawProfile{}))

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
}

type layerProfile struct {
	name string
	raw  rawProfile
	set  map[string]bool
}

func parseLayer(file, dir string, data []byte) (*layer, error) {
	var rf rawFile
	md, err := toml.Decode(string(data), &rf)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: file, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
		}
		if m := typeErr.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{File: file, Line: line, Key: m[2], Msg: m[3]}
		}
		return nil, &Error{File: file, Msg: err.Error()}
	}
	l := &layer{file: file, dir: dir, src: data, profiles: map[string]*layerProfile{}, kubernetes: rf.Kubernetes, buildFrom: rf.BuildFrom}
	for _, r := range rf.Repositories {
		l.repositories = append(l.repositories, l.resolve(r))
	}
	if und := md.Undecoded(); len(und) > 0 {
		// The shortest unknown key is the one the user wrote; the rest hang under it.
		first := slices.MinFunc(und, func(a, b toml.Key) int { return len(a) - len(b) })
		return nil, l.unknownKey(first)
	}
	for _, name := range slices.Sorted(maps.Keys(rf.Agents)) {
		if !ProfileName.MatchString(name) {
			return nil, l.errorAt(name, "", fmt.Sprintf("%q is not a profile name (up to 40 letters, digits, and . _ - after the first)", name))
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

func (l *layer) unknownKey(k toml.Key) error {
	if k[0] != "agents" && k[0] != "kubernetes" {
		k = k[:1]
	}
	e := &Error{File: l.file, Key: k.String(), Line: l.lineOf(k...)}
	switch {
	case len(k) == 1:
		e.Msg = "unknown key" + suggest(k[0], []string{"agents", "kubernetes", "build_from", "repositories"})
	case len(k) == 3 && k[0] == "agents":
		e.Msg = "unknown key" + suggest(k[2], profileKeys)
	case len(k) == 4 && k[0] == "agents" && (k[2] == "egress" || k[2] == "build_egress"):
		e.Msg = "unknown key" + suggest(k[3], routeKeys)
	case len(k) == 5 && k[0] == "agents" && k[3] == "credential":
		e.Msg = "unknown key" + suggest(k[4], credentialKeys)
	case len(k) == 5 && k[0] == "agents" && k[3] == "mcp":
		e.Msg = "unknown key" + suggest(k[4], mcpKeys)
	case len(k) == 4 && k[0] == "agents" && k[2] == "git":
		e.Msg = "unknown key" + suggest(k[3], gitKeys)
	case len(k) == 2 && k[0] == "kubernetes":
		e.Msg = "unknown key" + suggest(k[1], kubernetesKeys)
	case len(k) == 6 && k[0] == "agents" && k[2] == "git" && k[3] == "remotes":
		e.Msg = "unknown key" + suggest(k[5], gitRemoteKeys)
	default:
		e.Msg = "unknown key"
	}
	return e
}

// lineOf finds the line that sets a key: the toml library keeps key
// positions to itself, so look for the key's last part after its table.
func (l *layer) lineOf(key ...string) int {
	if len(key) == 0 || l.dir == Embedded {
		return 0
	}
	lines := strings.Split(string(l.src), "\n")
	start := 0
	if len(key) >= 2 {
		table := regexp.MustCompile(`^\s*\[\s*` + quotedPath(key[:len(key)-1]) + `\s*\]`)
		for i, ln := range lines {
			if table.MatchString(ln) {
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
func (l *layer) errorAt(profile, key, msg string) error {
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
	best, bestD := "", len(word)/2+2
	for _, k := range known {
		if d := distance(strings.ToLower(word), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return fmt.Sprintf(" (valid keys: %s)", strings.Join(known, ", "))
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
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
