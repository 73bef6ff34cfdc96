package config

import (
	"maps"
	"slices"
	"strconv"
)

// checkNarrowing enforces that the working directory's file only adds or
// narrows profiles: a cloned repository must not widen what the user
// granted. The rules are keyRules' narrow and fresh, key by key.
func checkNarrowing(wd *layer, grants, final map[string]*Agent) error {
	var p problems
	names := slices.Sorted(maps.Keys(wd.profiles))
	for _, name := range names {
		anchor := anchorOf(name, wd, grants)
		if anchor == nil || final[name] == nil {
			continue
		}
		for _, k := range profileKeys {
			if rule := keyRules[k]; rule.narrow != nil {
				if msg := rule.narrow(final[name], anchor); msg != "" {
					p.add(wd.errorAt(name, k, msg+" (a working directory's bottle.toml may only narrow what "+anchorName(anchor, name)+" grants)"))
				}
			}
		}
	}
	// A profile of the working directory's own, anchored to nothing trusted,
	// may reach nothing and hold no secret.
	for _, name := range names {
		if anchorOf(name, wd, grants) != nil || final[name] == nil {
			continue
		}
		for _, k := range profileKeys {
			if rule := keyRules[k]; rule.fresh != nil {
				if msg := rule.fresh(final[name]); msg != "" {
					p.add(wd.errorAt(name, k, msg))
				}
			}
		}
	}
	return p.err()
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
