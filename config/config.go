// Package config loads bottle's agent profiles: built-in defaults, the user's
// config file and a working directory's bottle.toml, layered in that order and
// decoded strictly.
package config

import (
	"embed"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/containers/image/v5/docker/reference"
)

//go:embed defaults
var defaultsFS embed.FS

// Embedded marks a Containerfile that ships inside the binary; the rest of
// the path names the file under config/defaults.
const Embedded = "embedded:"

// Agent is one effective, merged and validated agent profile.
type Agent struct {
	Name string `json:"name"`
	Profile
	MemoryBytes int64 `json:"-"`
	// FromWorkdir are the keys the working directory's bottle.toml set, for
	// the preflight to show; its paths were checked to stay inside it.
	FromWorkdir []string `json:"from_workdir,omitempty"`
	// BuildFrom are the images the person's config lists (build_from) that
	// an isolated build (a working directory's Containerfile, an agent's
	// approved request) may start FROM, besides Trusted's.
	BuildFrom []string `json:"build_from,omitempty"`
	// Trusted is where the image of the person's own profile this one
	// stands on comes from: the profile's own image source when the
	// person's config set it, the trusted profile a working directory's
	// profile narrows when that file replaced it, none for a profile of
	// the working directory's own. An isolated build may start FROM it.
	Trusted ImageSource `json:"-"`
}

// ImageSource is where a profile's image comes from: a reference, or a
// Containerfile and its context.
type ImageSource struct {
	Image, Containerfile, Context string
}

// imageSource is a's image source, from the person's config unless the
// working directory's file set it.
func imageSource(a *Agent) ImageSource {
	for _, k := range []string{"image", "containerfile", "context"} {
		if slices.Contains(a.FromWorkdir, k) {
			return ImageSource{}
		}
	}
	return ImageSource{Image: a.Image, Containerfile: a.Containerfile, Context: a.Context}
}

// Workspace modes and runtimes.
const (
	WorkspaceBind = "bind"
	WorkspaceCopy = "copy"
	RuntimeRunc   = "runc"
	RuntimeRunsc  = "runsc"
)

// Config is every effective agent profile and where they came from.
type Config struct {
	Agents map[string]*Agent
	// Kubernetes is how bottles land on a cluster (the user's [kubernetes]).
	Kubernetes Kubernetes
	// BuildFrom is the person's build_from (each profile has it too).
	BuildFrom []string
	// Repositories are the person's repositories a working directory's git
	// metadata may lead to (the user's repositories, absolute, "~/" expanded).
	Repositories []string
	// Files lists the files that were read, lowest layer first.
	Files []string
	// WorkdirData is the working directory's bottle.toml as read (nil when
	// there is none), for a bottle to record at its first start.
	WorkdirData []byte
	// Named are the profiles a file of the person's (config.toml, the
	// working directory's bottle.toml) names: defines or changes.
	Named map[string]bool
}

// Sources names the files to layer over the built-in defaults.
type Sources struct {
	// User is the user's config file; a missing file is fine unless Explicit.
	User     string
	Explicit bool
	// Workdir is the working directory's bottle.toml; a missing file is fine.
	Workdir string
	// WorkdirData, with UseWorkdirData, stands for the content of Workdir
	// (nil: no such file): what a bottle recorded of it at its first start.
	WorkdirData    []byte
	UseWorkdirData bool
}

// DefaultSources finds the user's file the way the README documents:
// configFlag, then $BOTTLE_CONFIG, then $XDG_CONFIG_HOME/bottle/config.toml
// (~/.config/bottle/config.toml), plus bottle.toml in workdir.
func DefaultSources(configFlag, workdir string) (Sources, error) {
	s := Sources{Workdir: filepath.Join(workdir, "bottle.toml")}
	switch {
	case configFlag != "":
		s.User, s.Explicit = configFlag, true
	case os.Getenv("BOTTLE_CONFIG") != "":
		s.User, s.Explicit = os.Getenv("BOTTLE_CONFIG"), true
	default:
		dir := os.Getenv("XDG_CONFIG_HOME")
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return s, fmt.Errorf("find the user's config folder: %w", err)
			}
			dir = filepath.Join(home, ".config")
		}
		s.User = filepath.Join(dir, "bottle", "config.toml")
	}
	return s, nil
}

// Load reads, layers, resolves and validates every profile. What is wrong
// in the files comes back as Errors: every unknown key, value of the wrong
// type and invalid value, not just the first (a syntax error stops its file).
func Load(src Sources) (*Config, error) {
	builtin, err := defaultsFS.ReadFile("defaults/defaults.toml")
	if err != nil {
		return nil, fmt.Errorf("read built-in defaults: %w", err)
	}
	base, err := parseLayer("built-in defaults", Embedded, builtin)
	if err != nil {
		return nil, err
	}
	var probs problems
	probs.shapeWrong(base.shape)
	layers := []*layer{base}
	files := []string{}

	if src.User != "" {
		l, err := readLayer(src.User, src.Explicit)
		if err != nil {
			return nil, err
		}
		if l != nil {
			probs.shapeWrong(l.shape)
			layers = append(layers, l)
			files = append(files, src.User)
		}
	}
	trusted := len(layers)
	var wdData []byte
	if src.Workdir != "" {
		var l *layer
		var err error
		if src.UseWorkdirData {
			if src.WorkdirData != nil {
				l, err = dataLayer(src.Workdir, src.WorkdirData)
			}
		} else {
			l, err = readWorkdirLayer(src.Workdir)
		}
		if err != nil {
			return nil, err
		}
		if l != nil {
			l.workdir = true
			probs.shapeWrong(l.shape)
			if err := l.checkPaths(); err != nil {
				var es Errors
				if !errors.As(err, &es) {
					return nil, err
				}
				probs.add(es)
			}
			layers = append(layers, l)
			files = append(files, src.Workdir)
			wdData = l.src
		}
	}

	agents, err := resolveAll(layers)
	probs.validation(err)
	var kube Kubernetes
	for i, l := range layers {
		if l.kubernetes == nil {
			continue
		}
		if i >= trusted {
			probs.add(&Error{File: l.file, Line: l.lineOf("kubernetes"), Key: "kubernetes", Msg: "a working directory's bottle.toml may not say where bottles run: set [kubernetes] in your own config.toml"})
			continue
		}
		probs.validation(l.kubernetes.validate(func(key, msg string) error {
			return &Error{File: l.file, Line: l.lineOf("kubernetes", key), Key: "kubernetes." + key, Msg: msg}
		}))
		kube = *l.kubernetes
	}
	for _, l := range layers[trusted:] {
		for _, name := range slices.Sorted(maps.Keys(l.profiles)) {
			if l.profiles[name].set["warm"] {
				probs.add(l.errorAt(name, "warm", "a working directory's bottle.toml may not keep warm bottles: set warm in your own config.toml"))
			}
		}
	}
	var repos []string
	for i, l := range layers {
		if l.repositories == nil {
			continue
		}
		if i >= trusted {
			probs.add(&Error{File: l.file, Line: l.lineOf("repositories"), Key: "repositories", Msg: "a working directory's bottle.toml may not name repositories: set repositories in your own config.toml"})
			continue
		}
		for _, r := range l.repositories {
			if rest, ok := strings.CutPrefix(r, "~/"); ok {
				home, err := os.UserHomeDir()
				if err != nil {
					return nil, fmt.Errorf("%s: repositories: %w", l.file, err)
				}
				r = filepath.Join(home, rest)
			}
			if !filepath.IsAbs(r) {
				probs.validation(&Error{File: l.file, Line: l.lineOf("repositories"), Key: "repositories", Msg: fmt.Sprintf("%q is not a folder's path", r)})
				continue
			}
			repos = append(repos, filepath.Clean(r))
		}
	}
	buildFrom, err := buildFromOf(layers, trusted)
	probs.validation(err)
	var grants map[string]*Agent
	if len(layers) > trusted {
		grants, err = resolveAll(layers[:trusted])
		probs.validation(err)
		probs.validation(checkNarrowing(layers[trusted], grants, agents))
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	for name, a := range agents {
		a.BuildFrom, a.Trusted = slices.Clone(buildFrom), imageSource(a)
		if a.Trusted == (ImageSource{}) && grants != nil {
			if anchor := anchorOf(name, layers[trusted], grants); anchor != nil {
				a.Trusted = imageSource(anchor)
			}
		}
	}
	named := map[string]bool{}
	for _, l := range layers[1:] {
		for name := range l.profiles {
			named[name] = true
		}
	}
	return &Config{Agents: agents, Kubernetes: kube, BuildFrom: buildFrom, Repositories: repos, Files: files, WorkdirData: wdData, Named: named}, nil
}

// buildFromOf is the build_from of the trusted layers (the first trusted
// of layers), validated; a working directory's file may not set it.
func buildFromOf(layers []*layer, trusted int) ([]string, error) {
	var out []string
	var p problems
	for i, l := range layers {
		if l.buildFrom == nil {
			continue
		}
		if i >= trusted {
			p.add(&Error{File: l.file, Line: l.lineOf("build_from"), Key: "build_from", Msg: "a working directory's bottle.toml may not name images for builds: set build_from in your own config.toml"})
			continue
		}
		for _, ref := range l.buildFrom {
			if _, err := reference.ParseNormalizedNamed(ref); err != nil {
				p.add(&Error{File: l.file, Line: l.lineOf("build_from"), Key: "build_from", Msg: fmt.Sprintf("invalid image reference %q: %v", ref, err)})
				continue
			}
			if !slices.Contains(out, ref) {
				out = append(out, ref)
			}
		}
	}
	return out, p.err()
}

// Agent returns the named profile, or an error listing the known ones.
func (c *Config) Agent(name string) (*Agent, error) {
	if a, ok := c.Agents[name]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("no agent profile %q (known: %s)", name, strings.Join(c.Names(), ", "))
}

// Names lists the profile names in order.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Agents))
	for n := range c.Agents {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// EmbeddedFile returns a file shipped under config/defaults, for a
// Containerfile whose path starts with Embedded.
func EmbeddedFile(path string) ([]byte, error) {
	name, ok := strings.CutPrefix(path, Embedded)
	if !ok {
		return nil, fmt.Errorf("%s is not an embedded file", path)
	}
	b, err := defaultsFS.ReadFile("defaults/" + name)
	if err != nil {
		return nil, fmt.Errorf("read embedded %s: %w", name, err)
	}
	return b, nil
}

func readLayer(path string, mustExist bool) (*layer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !mustExist {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return dataLayer(path, data)
}

// readWorkdirLayer reads a working directory's bottle.toml, which a
// repository wrote: a link there is not followed (nor is one on the way).
func readWorkdirLayer(path string) (*layer, error) {
	data, err := beneath.At(filepath.Dir(path)).ReadFile(filepath.Base(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return dataLayer(path, data)
}

// dataLayer parses data as the config file at path.
func dataLayer(path string, data []byte) (*layer, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parseLayer(path, filepath.Dir(abs), data)
}
