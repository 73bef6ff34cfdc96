package config

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/containers/image/v5/docker/reference"
)

// definition is one layer's table for a profile.
type definition struct {
	layer *layer
	p     *layerProfile
}

// resolveAll merges every profile across layers, follows extends, applies
// defaults and validates: every profile it could resolve, and every
// problem it found (Errors).
func resolveAll(layers []*layer) (map[string]*Agent, error) {
	defs := map[string][]definition{}
	for _, l := range layers {
		names := slices.Sorted(maps.Keys(l.profiles))
		for _, n := range names {
			defs[n] = append(defs[n], definition{l, l.profiles[n]})
		}
	}
	r := &resolver{defs: defs, done: map[string]*Agent{}, busy: map[string]bool{}, failed: map[string]bool{}}
	names := slices.Sorted(maps.Keys(defs))
	for _, n := range names {
		r.resolve(n)
	}
	for _, n := range names {
		a, ok := r.done[n]
		if !ok {
			continue
		}
		applyDefaults(a)
		r.problems.add(validate(a, r.where(n)))
	}
	return r.done, r.problems.err()
}

type resolver struct {
	defs     map[string][]definition
	done     map[string]*Agent
	busy     map[string]bool
	failed   map[string]bool
	problems problems
}

// where returns the definition that last set key for a profile (or its last
// definition), to place an error.
func (r *resolver) where(name string) func(key, msg string) error {
	return func(key, msg string) error {
		ds := r.defs[name]
		d := ds[len(ds)-1]
		for i := len(ds) - 1; i >= 0; i-- {
			if ds[i].p.set[key] {
				d = ds[i]
				break
			}
		}
		return d.layer.errorAt(name, key, msg)
	}
}

// resolve merges a profile over the one it extends; nil when that cannot
// be done, said once, for the profile whose extends is wrong.
func (r *resolver) resolve(name string) *Agent {
	if a, ok := r.done[name]; ok {
		return a
	}
	if r.failed[name] {
		return nil
	}
	fail := func(msg string) *Agent {
		r.failed[name] = true
		r.problems.add(r.where(name)("extends", msg))
		return nil
	}
	if r.busy[name] {
		return fail("extends forms a cycle through " + strconv.Quote(name))
	}
	r.busy[name] = true
	defer delete(r.busy, name)

	ds := r.defs[name]
	parent := ""
	for _, d := range ds {
		if d.p.set["extends"] {
			parent = d.p.raw.Extends
		}
	}
	a := &Agent{Name: name}
	if parent != "" {
		if _, ok := r.defs[parent]; !ok {
			return fail(fmt.Sprintf("no profile %q to extend%s", parent, suggestName(parent, r.defs)))
		}
		pa := r.resolve(parent)
		if pa == nil {
			r.failed[name] = true
			return nil
		}
		a = pa.clone()
		a.Name = name
	}
	for _, d := range ds {
		merge(a, d)
	}
	r.done[name] = a
	return a
}

func suggestName(name string, defs map[string][]definition) string {
	best, bestD := "", len(name)/2+2
	for n := range defs {
		if d := distance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func (a *Agent) clone() *Agent {
	c := *a
	c.Command = slices.Clone(a.Command)
	c.Args = slices.Clone(a.Args)
	c.AlwaysArgs = slices.Clone(a.AlwaysArgs)
	c.ResumeArgs = slices.Clone(a.ResumeArgs)
	c.Env = maps.Clone(a.Env)
	c.HomeFiles = maps.Clone(a.HomeFiles)
	c.Setup = slices.Clone(a.Setup)
	c.Egress = slices.Clone(a.Egress)
	c.BuildEgress = slices.Clone(a.BuildEgress)
	c.Git = a.Git.clone()
	if a.Signin != nil {
		si := *a.Signin
		c.Signin = &si
	}
	c.FromWorkdir = slices.Clone(a.FromWorkdir)
	return &c
}

func applyDefaults(a *Agent) {
	if a.Workspace == "" {
		a.Workspace = WorkspaceBind
	}
	if a.Runtime == "" {
		a.Runtime = RuntimeRunc
	}
	if a.Containerfile != "" && a.Context == "" {
		if rest, ok := strings.CutPrefix(a.Containerfile, Embedded); ok {
			a.Context = Embedded + filepath.Dir(rest)
		} else {
			a.Context = filepath.Dir(a.Containerfile)
		}
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validate checks a profile's values, saying every key that is wrong.
func validate(a *Agent, at func(key, msg string) error) error {
	var p problems
	bad := func(key, msg string) { p.add(at(key, msg)) }
	if a.Image == "" && a.Containerfile == "" {
		bad("image", `set image or containerfile`)
	}
	if len(a.Command) == 0 || a.Command[0] == "" {
		bad("command", "must name the program to run")
	}
	if a.Image != "" {
		if _, err := reference.ParseNormalizedNamed(a.Image); err != nil {
			bad("image", fmt.Sprintf("invalid image reference %q: %v", a.Image, err))
		}
	}
	if a.Workspace != WorkspaceBind && a.Workspace != WorkspaceCopy {
		bad("workspace", fmt.Sprintf("%q is not a workspace mode (use %q or %q)", a.Workspace, WorkspaceBind, WorkspaceCopy))
	}
	if a.Runtime != RuntimeRunc && a.Runtime != RuntimeRunsc {
		bad("runtime", fmt.Sprintf("%q is not a runtime (use %q or %q)", a.Runtime, RuntimeRunc, RuntimeRunsc))
	}
	if si := a.Signin; si != nil {
		switch {
		case !slices.Contains(SigninAgents, si.Agent):
			bad("signin", fmt.Sprintf("agent %q is not one bottle signs in (use %s)", si.Agent, strings.Join(SigninAgents, ", ")))
		case si.Use != "" && !slices.Contains(SigninUses, si.Use):
			bad("signin", fmt.Sprintf("use %q is not a way to sign in (use %s)", si.Use, strings.Join(SigninUses, ", ")))
		}
	}
	if a.Engine != "" && a.Engine != EnginePodman && a.Engine != EngineKubernetes {
		bad("engine", fmt.Sprintf("%q is not an engine (use %q or %q)", a.Engine, EnginePodman, EngineKubernetes))
	}
	if !validInbound(a.Inbound) {
		bad("inbound", fmt.Sprintf("%q is not a mode (use %s)", a.Inbound, strings.Join(InboundModes, ", ")))
	}
	if a.Memory != "" {
		n, err := ParseBytes(a.Memory)
		switch {
		case err != nil:
			bad("memory", err.Error())
		case n < 6*1024*1024:
			bad("memory", fmt.Sprintf("%q is below the 6m a container needs", a.Memory))
		default:
			a.MemoryBytes = n
		}
	}
	if a.CPUs < 0 || a.CPUs > 4096 {
		bad("cpus", fmt.Sprintf("%v is not a CPU count (use a number above 0, such as 2.0)", a.CPUs))
	}
	if a.Pids < 0 {
		bad("pids", fmt.Sprintf("%d is not a process limit (use a number above 0)", a.Pids))
	}
	if a.Warm < 0 || a.Warm > MaxWarm {
		bad("warm", fmt.Sprintf("%d is not a number of warm bottles (use 0 to %d)", a.Warm, MaxWarm))
	}
	for i, r := range a.Egress {
		p.add(validateRoute("egress", i, r, at))
	}
	for i, r := range a.BuildEgress {
		p.add(validateRoute("build_egress", i, r, at))
	}
	p.add(validateGit(a.Git, at))
	for _, s := range a.Setup {
		if s == "" || filepath.IsAbs(s) || !filepath.IsLocal(s) {
			bad("setup", fmt.Sprintf("%q must be a path below your home, such as .claude/CLAUDE.md", s))
			break
		}
	}
	for _, s := range slices.Sorted(maps.Keys(a.HomeFiles)) {
		if s == "" || filepath.IsAbs(s) || !filepath.IsLocal(s) {
			bad("home_files", fmt.Sprintf("%q must be a path below the agent's home, such as .gemini/settings.json", s))
			break
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a.Env)) {
		if !envName.MatchString(k) {
			bad("env", fmt.Sprintf("%q is not a valid environment variable name", k))
			break
		}
	}
	return p.err()
}

// ParseBytes reads sizes such as "512m", "4g", "4GiB" or "1048576".
func ParseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a size (use a number with k, m or g, such as \"4g\")", s)
	}
	return int64(v * float64(mult)), nil
}

// SortedEnv returns env as KEY=VALUE lines in key order.
func SortedEnv(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
