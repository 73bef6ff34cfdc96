package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// checkNarrowing enforces that the working directory's file only adds or
// narrows profiles: a cloned repository must not widen what the user granted.
func checkNarrowing(wd *layer, grants, final map[string]*Agent) error {
	names := slices.Sorted(maps.Keys(wd.profiles))
	for _, name := range names {
		anchor := anchorOf(name, wd, grants)
		if anchor == nil {
			continue
		}
		a := final[name]
		deny := func(key, msg string) error {
			return wd.errorAt(name, key, msg+" (a working directory's bottle.toml may only narrow what "+anchorName(anchor, name)+" grants)")
		}
		if anchor.Runtime == RuntimeRunsc && a.Runtime != RuntimeRunsc {
			return deny("runtime", "downgrades the runtime from runsc to "+a.Runtime)
		}
		if anchor.Workspace == WorkspaceCopy && a.Workspace != WorkspaceCopy {
			return deny("workspace", "widens workspace from copy to "+a.Workspace)
		}
		if anchor.MemoryBytes > 0 && (a.MemoryBytes == 0 || a.MemoryBytes > anchor.MemoryBytes) {
			return deny("memory", fmt.Sprintf("raises memory above %s", anchor.Memory))
		}
		if anchor.CPUs > 0 && (a.CPUs == 0 || a.CPUs > anchor.CPUs) {
			return deny("cpus", fmt.Sprintf("raises cpus above %v", anchor.CPUs))
		}
		if anchor.Pids > 0 && (a.Pids == 0 || a.Pids > anchor.Pids) {
			return deny("pids", fmt.Sprintf("raises pids above %d", anchor.Pids))
		}
		for _, r := range a.Egress {
			if !routeGranted(r, anchor.Egress) {
				return deny("egress", fmt.Sprintf("adds or changes the egress route for %q", r.Host))
			}
		}
		for _, r := range a.BuildEgress {
			if !routeGranted(r, anchor.BuildEgress) {
				return deny("build_egress", fmt.Sprintf("adds or changes the build route for %q", r.Host))
			}
		}
		if a.AutoResume && !anchor.AutoResume {
			return deny("auto_resume", "turns auto_resume on")
		}
		if a.Git.GateEnabled() && !anchor.Git.GateEnabled() {
			return deny("git", "turns the git gate on")
		}
		if msg := gitNarrows(a.Git, anchor.Git); msg != "" {
			return deny("git", msg)
		}
	}
	// A profile of the working directory's own, anchored to nothing trusted,
	// may reach nothing and hold no secret.
	for _, name := range names {
		if anchorOf(name, wd, grants) == nil && len(final[name].Egress) > 0 {
			return wd.errorAt(name, "egress", "a working directory's bottle.toml may not grant egress routes: declare them in your own config.toml")
		}
		if anchorOf(name, wd, grants) == nil && len(final[name].BuildEgress) > 0 {
			return wd.errorAt(name, "build_egress", "a working directory's bottle.toml may not grant build routes: declare them in your own config.toml")
		}
		if anchorOf(name, wd, grants) == nil && final[name].AutoResume {
			return wd.errorAt(name, "auto_resume", "a working directory's bottle.toml may only turn auto_resume off: turn it on in your own config.toml")
		}
		if g := final[name].Git; anchorOf(name, wd, grants) == nil && g != nil && len(g.Remotes) > 0 {
			return wd.errorAt(name, "git", "a working directory's bottle.toml may not declare git remotes: declare them in your own config.toml")
		}
	}
	return nil
}

// anchorOf is the trusted profile a working-directory profile is measured
// against: the same name if the trusted layers define it, else the first
// trusted profile up its extends chain.
func anchorOf(name string, wd *layer, grants map[string]*Agent) *Agent {
	seen := map[string]bool{}
	for name != "" && !seen[name] {
		seen[name] = true
		if a, ok := grants[name]; ok {
			return a
		}
		lp, ok := wd.profiles[name]
		if !ok {
			return nil
		}
		name = lp.raw.Extends
	}
	return nil
}

func anchorName(anchor *Agent, name string) string {
	if anchor.Name == name {
		return "the user's profile"
	}
	return "the profile " + strconv.Quote(anchor.Name)
}
