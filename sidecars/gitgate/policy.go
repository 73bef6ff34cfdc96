package gitgate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Rules are a remote's push policy.
type Rules struct {
	// Branches the agent may push: globs where * matches anything, / too, and
	// {identity} is the bottle's identity. Empty: every branch not protected.
	Branches []string `json:"branches,omitempty"`
	// Protected branches are never created, updated or deleted.
	Protected []string `json:"protected"`
	// Tags allows creating tags (never moving or deleting one).
	Tags bool `json:"tags,omitempty"`
	// MaxPush bounds the pack a push sends, in bytes.
	MaxPush int64 `json:"max_push"`
	// MaxBinary bounds a binary file a push brings, and what a compressed
	// file expands to, in bytes: past it, the push is refused.
	MaxBinary int64 `json:"max_binary"`
}

// Update is one ref a push wants to change, with what the gate knows of it.
type Update struct {
	Ref plumbing.ReferenceName
	Old plumbing.Hash // zero: the ref is created
	New plumbing.Hash // zero: the ref is deleted
	// FastForward is whether New descends from Old (meaningful on update).
	FastForward bool
}

// Check says why the rules refuse u, or "" when they allow it. identity
// fills {identity} in branch patterns; defaultBranch is the upstream's
// default branch, protected whatever the rules say.
func (r Rules) Check(u Update, identity, defaultBranch string) string {
	name := u.Ref.String()
	switch {
	case u.Ref.IsTag():
		tag := u.Ref.Short()
		switch {
		case !r.Tags:
			return fmt.Sprintf("tags are not allowed (tag %s)", tag)
		case !u.Old.IsZero() && u.New.IsZero():
			return fmt.Sprintf("deleting tag %s is not allowed", tag)
		case !u.Old.IsZero():
			return fmt.Sprintf("moving tag %s is not allowed", tag)
		}
		return ""
	case !u.Ref.IsBranch():
		return fmt.Sprintf("only branches can be pushed, not %s", name)
	}
	branch := u.Ref.Short()
	if branch == defaultBranch || slices.ContainsFunc(r.Protected, func(p string) bool { return globMatch(p, identity, branch) }) {
		return fmt.Sprintf("branch %s is protected", branch)
	}
	if len(r.Branches) > 0 && !slices.ContainsFunc(r.Branches, func(p string) bool { return globMatch(p, identity, branch) }) {
		return fmt.Sprintf("branch %s is not one the agent may push (allowed: %s)", branch,
			strings.ReplaceAll(strings.Join(r.Branches, ", "), "{identity}", identity))
	}
	switch {
	case u.New.IsZero():
		return fmt.Sprintf("deleting branch %s is not allowed", branch)
	case !u.Old.IsZero() && !u.FastForward:
		return fmt.Sprintf("force-push to %s is not allowed (not a fast-forward)", branch)
	}
	return ""
}

// globMatch matches a branch pattern: * is any run of characters, / included.
func globMatch(pattern, identity, branch string) bool {
	pattern = strings.ReplaceAll(pattern, "{identity}", identity)
	if !strings.Contains(pattern, "*") {
		return pattern == branch
	}
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(branch)
}
