package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// keyRule is how one key merges and what a working directory's file may do
// with it, where that is not the default: a later layer replaces the value
// whole, and a working directory's file sets it freely.
type keyRule struct {
	// merge lays a layer's value over a.
	merge func(a *Agent, raw *rawProfile, path func(string) string)
	// narrow says how a working directory's profile widens what its trusted
	// anchor grants ("" when it does not); fresh how a profile of the
	// working directory's own, anchored to nothing trusted, reaches too far.
	narrow func(a, anchor *Agent) string
	fresh  func(a *Agent) string
}

// keyRules is the one table of the keys that merge or narrow specially.
var keyRules = map[string]keyRule{
	// image and containerfile replace each other: a profile has one source.
	"image": {merge: func(a *Agent, raw *rawProfile, _ func(string) string) {
		a.Image, a.Containerfile, a.Context = raw.Image, "", ""
	}},
	"containerfile": {merge: func(a *Agent, raw *rawProfile, path func(string) string) {
		a.Containerfile, a.Image, a.Context = path(raw.Containerfile), "", ""
	}},
	"prompt": {merge: func(a *Agent, raw *rawProfile, _ func(string) string) { a.Prompt, a.PromptFile = raw.Prompt, "" }},
	"prompt_file": {merge: func(a *Agent, raw *rawProfile, path func(string) string) {
		a.PromptFile, a.Prompt = path(raw.PromptFile), ""
	}},
	// env merges by variable.
	"env": {merge: func(a *Agent, raw *rawProfile, _ func(string) string) {
		if a.Env == nil {
			a.Env = map[string]string{}
		}
		maps.Copy(a.Env, raw.Env)
	}},
	// home_files merges by path.
	"home_files": {merge: func(a *Agent, raw *rawProfile, _ func(string) string) {
		if a.HomeFiles == nil {
			a.HomeFiles = map[string]string{}
		}
		maps.Copy(a.HomeFiles, raw.HomeFiles)
	}},
	"runtime": {narrow: func(a, anchor *Agent) string {
		if anchor.Runtime == RuntimeRunsc && a.Runtime != RuntimeRunsc {
			return "downgrades the runtime from runsc to " + a.Runtime
		}
		return ""
	}},
	"workspace": {narrow: func(a, anchor *Agent) string {
		if anchor.Workspace == WorkspaceCopy && a.Workspace != WorkspaceCopy {
			return "widens workspace from copy to " + a.Workspace
		}
		return ""
	}},
	"memory": {narrow: func(a, anchor *Agent) string {
		if anchor.MemoryBytes > 0 && (a.MemoryBytes == 0 || a.MemoryBytes > anchor.MemoryBytes) {
			return fmt.Sprintf("raises memory above %s", anchor.Memory)
		}
		return ""
	}},
	"cpus": {narrow: func(a, anchor *Agent) string {
		if anchor.CPUs > 0 && (a.CPUs == 0 || a.CPUs > anchor.CPUs) {
			return fmt.Sprintf("raises cpus above %v", anchor.CPUs)
		}
		return ""
	}},
	"pids": {narrow: func(a, anchor *Agent) string {
		if anchor.Pids > 0 && (a.Pids == 0 || a.Pids > anchor.Pids) {
			return fmt.Sprintf("raises pids above %d", anchor.Pids)
		}
		return ""
	}},
	// Routes add up across layers and extends (replace_egress starts afresh).
	"egress": {
		merge: func(a *Agent, raw *rawProfile, path func(string) string) {
			a.Egress = appendRoutes(a.Egress, raw.Egress, path)
		},
		narrow: func(a, anchor *Agent) string {
			for _, r := range a.Egress {
				if !routeGranted(r, anchor.Egress) {
					return fmt.Sprintf("adds or changes the egress route for %q", r.Host)
				}
			}
			return ""
		},
		fresh: func(a *Agent) string {
			if len(a.Egress) > 0 {
				return "a working directory's bottle.toml may not grant egress routes: declare them in your own config.toml"
			}
			return ""
		},
	},
	"build_egress": {
		merge: func(a *Agent, raw *rawProfile, path func(string) string) {
			a.BuildEgress = appendRoutes(a.BuildEgress, raw.BuildEgress, path)
		},
		narrow: func(a, anchor *Agent) string {
			for _, r := range a.BuildEgress {
				if !routeGranted(r, anchor.BuildEgress) {
					return fmt.Sprintf("adds or changes the build route for %q", r.Host)
				}
			}
			return ""
		},
		fresh: func(a *Agent) string {
			if len(a.BuildEgress) > 0 {
				return "a working directory's bottle.toml may not grant build routes: declare them in your own config.toml"
			}
			return ""
		},
	},
	"inbound": {narrow: func(a, anchor *Agent) string {
		if inboundRank(a.Inbound) < inboundRank(anchor.Inbound) {
			return fmt.Sprintf("loosens inbound from %s to %s", orAuto(anchor.Inbound), a.Inbound)
		}
		return ""
	}},
	"signin": {
		narrow: func(a, anchor *Agent) string {
			if !reflect.DeepEqual(a.Signin, anchor.Signin) {
				return "changes signin"
			}
			return ""
		},
		fresh: func(a *Agent) string {
			if a.Signin != nil {
				return "a working directory's bottle.toml may not sign an agent in: declare signin in your own config.toml"
			}
			return ""
		},
	},
	// setup reads the person's home into the bottle: a working directory
	// may only take entries away.
	"setup": {
		narrow: func(a, anchor *Agent) string {
			for _, p := range a.Setup {
				if !slices.Contains(anchor.Setup, p) {
					return fmt.Sprintf("adds %q to setup, which copies it from your home into the bottle", p)
				}
			}
			return ""
		},
		fresh: func(a *Agent) string {
			if len(a.Setup) > 0 {
				return "a working directory's bottle.toml may not copy files from your home: declare setup in your own config.toml"
			}
			return ""
		},
	},
	"engine": {narrow: func(a, anchor *Agent) string {
		if a.Engine != anchor.Engine {
			return "changes the engine bottles run on"
		}
		return ""
	}, fresh: func(a *Agent) string {
		if a.Engine != "" && a.Engine != EnginePodman {
			return "a working directory's bottle.toml may not send bottles to a cluster: set engine in your own config.toml"
		}
		return ""
	}},
	"auto_resume": {
		narrow: func(a, anchor *Agent) string {
			if a.AutoResume && !anchor.AutoResume {
				return "turns auto_resume on"
			}
			return ""
		},
		fresh: func(a *Agent) string {
			if a.AutoResume {
				return "a working directory's bottle.toml may only turn auto_resume off: turn it on in your own config.toml"
			}
			return ""
		},
	},
	"git": {
		merge: func(a *Agent, raw *rawProfile, path func(string) string) { mergeGit(a, raw.Git, path) },
		narrow: func(a, anchor *Agent) string {
			if a.Git.GateEnabled() && !anchor.Git.GateEnabled() {
				return "turns the git gate on"
			}
			return gitNarrows(a.Git, anchor.Git)
		},
		fresh: func(a *Agent) string {
			if a.Git != nil && len(a.Git.Remotes) > 0 {
				return "a working directory's bottle.toml may not declare git remotes: declare them in your own config.toml"
			}
			return ""
		},
	},
	// These say how to lay a profile over others, and hold no value of it.
	"extends":        {merge: func(*Agent, *rawProfile, func(string) string) {}},
	"replace_egress": {merge: func(*Agent, *rawProfile, func(string) string) {}},
}

// merge lays one definition's set keys over a, by keyRules, or else by
// replacing the value whole (a file key resolved against the layer's folder).
func merge(a *Agent, d definition) {
	raw, set := &d.p.raw, d.p.set
	path := func(p string) string { return d.layer.resolve(p) }
	if set["replace_egress"] && raw.ReplaceEgress {
		a.Egress = nil
	}
	for _, k := range profileKeys {
		if !set[k] {
			continue
		}
		if rule, ok := keyRules[k]; ok && rule.merge != nil {
			rule.merge(a, raw, path)
			continue
		}
		dst, src := profileField(&a.Profile, k), profileField(&raw.Profile, k)
		dst.Set(cloneValue(src))
		if isPath(k) && dst.Kind() == reflect.String {
			dst.SetString(path(dst.String()))
		}
	}
	if d.layer.workdir {
		for _, k := range profileKeys {
			if set[k] && !slices.Contains(a.FromWorkdir, k) {
				a.FromWorkdir = append(a.FromWorkdir, k)
			}
		}
	}
}

var profileType = reflect.TypeOf(Profile{})

// profileField is the field of p that key names.
func profileField(p *Profile, key string) reflect.Value {
	v := reflect.ValueOf(p).Elem()
	for i := range profileType.NumField() {
		if name, _, _ := cutTag(profileType.Field(i).Tag.Get("toml")); name == key {
			return v.Field(i)
		}
	}
	panic("config: no profile key " + key)
}

func isPath(key string) bool {
	for i := range profileType.NumField() {
		f := profileType.Field(i)
		if name, _, _ := cutTag(f.Tag.Get("toml")); name == key {
			return f.Tag.Get("bottle") == pathTag
		}
	}
	return false
}

// cloneValue copies slices and maps, so layers never share them.
func cloneValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, k := range v.MapKeys() {
			c.SetMapIndex(k, v.MapIndex(k))
		}
		return c
	}
	return v
}

// appendRoutes adds a layer's routes, their files resolved against the layer.
func appendRoutes(to, add []Route, path func(string) string) []Route {
	for _, r := range add {
		if r.UpstreamCA != "" {
			r.UpstreamCA = path(r.UpstreamCA)
		}
		if c := r.Credential; c != nil && c.FromFile != "" {
			cc := *c
			cc.FromFile = path(c.FromFile)
			r.Credential = &cc
		}
		to = append(to, r)
	}
	return to
}

func cutTag(tag string) (string, string, bool) {
	for i := range len(tag) {
		if tag[i] == ',' {
			return tag[:i], tag[i+1:], true
		}
	}
	return tag, "", false
}

func orAuto(m string) string {
	if m == "" {
		return InboundAuto
	}
	return m
}
