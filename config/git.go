package config

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Git is a profile's git gate: which remotes the agent reaches through it and
// the rules its pushes meet.
type Git struct {
	// Enabled is false to start without the gate (the agent then has no way
	// to fetch or push at all). Default true.
	Enabled *bool `json:"enabled,omitempty" toml:"enabled"`
	// Remotes are declared remotes by name; the workspace repository's own
	// remotes are added with the defaults when not declared.
	Remotes map[string]GitRemote `json:"remotes,omitempty" toml:"remotes"`
}

// GitRemote is one remote behind the gate.
type GitRemote struct {
	// URL is the upstream; default the workspace repository's URL for the remote.
	URL string `json:"url,omitempty" toml:"url,omitempty"`
	// Mode is "forward" (accepted pushes go upstream) or "hold" (they stay in
	// the gate until `bottle git fetch`).
	Mode string `json:"mode,omitempty" toml:"mode,omitempty"`
	// SSHKey is the private key file for an SSH upstream; default the first
	// of ~/.ssh/id_ed25519, id_ecdsa, id_rsa that exists.
	SSHKey string `json:"ssh_key,omitempty" toml:"ssh_key,omitempty" bottle:"path"`
	// KnownHosts checks an SSH upstream's host key; default ~/.ssh/known_hosts.
	KnownHosts string `json:"known_hosts,omitempty" toml:"known_hosts,omitempty" bottle:"path"`
	// An HTTPS upstream's token, from the host's environment or a file; sent
	// as the password of HTTP basic authentication with Username.
	TokenEnv  string `json:"token_env,omitempty" toml:"token_env,omitempty"`
	TokenFile string `json:"token_file,omitempty" toml:"token_file,omitempty" bottle:"path"`
	Username  string `json:"username,omitempty" toml:"username,omitempty"`
	// CAFile is a PEM bundle to trust for an HTTPS upstream beside the system's.
	CAFile string `json:"ca_file,omitempty" toml:"ca_file,omitempty" bottle:"path"`
	// Branches the agent may push (globs; * matches across /), default every
	// branch that is not protected.
	Branches []string `json:"branches,omitempty" toml:"branches,omitempty"`
	// Protected branches are never updated; default main and master, plus
	// the upstream's default branch always.
	Protected []string `json:"protected,omitempty" toml:"protected,omitempty"`
	// Tags lets the agent push new tags (never move or delete them).
	Tags bool `json:"tags,omitempty" toml:"tags,omitempty"`
	// MaxPush is the largest pack one push may send, default 100m.
	MaxPush      string `json:"max_push,omitempty" toml:"max_push,omitempty"`
	MaxPushBytes int64  `json:"-" toml:"-"`
	// MaxBinary is the largest binary file (or what a compressed file
	// expands to) a push may bring, default 16m: the gate scans each whole
	// and refuses a larger one rather than pass it unscanned.
	MaxBinary      string `json:"max_binary,omitempty" toml:"max_binary,omitempty"`
	MaxBinaryBytes int64  `json:"-" toml:"-"`
}

// Git modes and defaults.
const (
	GitForward = "forward"
	GitHold    = "hold"
)

var (
	// DefaultProtected are the branches protected when a remote names none.
	DefaultProtected = []string{"main", "master"}
	// DefaultMaxPush bounds one push.
	DefaultMaxPush = "100m"
	// DefaultMaxBinary bounds one binary file of a push, expanded.
	DefaultMaxBinary = "16m"

	remoteName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	scpLike    = regexp.MustCompile(`^(?:[^@/:]+@)?[^/:]+:[^/].*$`)
)

// GateEnabled reports whether the profile runs the gate (when there is a remote).
func (g *Git) GateEnabled() bool { return g == nil || g.Enabled == nil || *g.Enabled }

// WithDefaults is r with its defaults applied.
func (r GitRemote) WithDefaults() GitRemote {
	if r.Mode == "" {
		r.Mode = GitForward
	}
	if r.Protected == nil {
		r.Protected = slices.Clone(DefaultProtected)
	}
	if r.MaxPush == "" {
		r.MaxPush = DefaultMaxPush
	}
	r.MaxPushBytes, _ = ParseBytes(r.MaxPush) // validated already
	if r.MaxBinary == "" {
		r.MaxBinary = DefaultMaxBinary
	}
	r.MaxBinaryBytes, _ = ParseBytes(r.MaxBinary)
	if r.Username == "" && (r.TokenEnv != "" || r.TokenFile != "") {
		r.Username = "x-access-token"
	}
	return r
}

// URLScheme classifies a remote URL: "https", "http", "ssh" (ssh:// or
// scp-like user@host:path), "file" for a local path, or "" when unusable.
func URLScheme(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		switch u.Scheme {
		case "https", "http", "ssh", "file":
			if u.Scheme != "file" && u.Host == "" {
				return ""
			}
			return u.Scheme
		case "git+ssh", "ssh+git":
			return "ssh"
		}
		return ""
	}
	if scpLike.MatchString(raw) {
		return "ssh"
	}
	if strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, ".") {
		return "file"
	}
	return ""
}

func validateGit(g *Git, at func(key, msg string) error) error {
	if g == nil {
		return nil
	}
	var p problems
	for _, name := range slices.Sorted(maps.Keys(g.Remotes)) {
		p.add(validateRemote(name, g.Remotes[name], func(msg string, args ...any) error {
			return at("git", fmt.Sprintf("remotes.%s: %s", name, fmt.Sprintf(msg, args...)))
		}))
	}
	return p.err()
}

// validateRemote says the first thing wrong with a git remote.
func validateRemote(name string, r GitRemote, bad func(msg string, args ...any) error) error {
	if !remoteName.MatchString(name) {
		return bad("%q is not a remote name (letters, digits, . _ -)", name)
	}
	if r.URL != "" {
		switch URLScheme(r.URL) {
		case "":
			return bad("url %q is not a Git URL (https://, ssh:// or user@host:path)", r.URL)
		case "file":
			if r.Mode != GitHold {
				return bad("url %q is a local path: only mode = \"hold\" can use it", r.URL)
			}
		}
	}
	if r.Mode != "" && r.Mode != GitForward && r.Mode != GitHold {
		return bad("mode %q is not a mode (use %q or %q)", r.Mode, GitForward, GitHold)
	}
	if r.TokenEnv != "" && r.TokenFile != "" {
		return bad("set one of token_env and token_file")
	}
	if r.TokenEnv != "" && !envName.MatchString(r.TokenEnv) {
		return bad("token_env %q is not a variable name", r.TokenEnv)
	}
	if (r.TokenEnv != "" || r.TokenFile != "") && r.URL == "" {
		return bad("a token needs the url it is for: a repository's own remote URL is not trusted with it")
	}
	if (r.TokenEnv != "" || r.TokenFile != "" || r.CAFile != "") && r.URL != "" && !strings.HasPrefix(URLScheme(r.URL), "http") {
		return bad("token and ca_file are for https:// upstreams, not %q", r.URL)
	}
	if (r.SSHKey != "" || r.KnownHosts != "") && r.URL != "" && URLScheme(r.URL) != "ssh" {
		return bad("ssh_key and known_hosts are for ssh upstreams, not %q", r.URL)
	}
	for _, b := range append(slices.Clone(r.Branches), r.Protected...) {
		if b == "" || strings.HasPrefix(b, "refs/") || strings.ContainsAny(b, " ~^:?[\\") {
			return bad("branch pattern %q must be a branch name or glob, such as \"bottle/*\"", b)
		}
	}
	if r.MaxPush != "" {
		if _, err := ParseBytes(r.MaxPush); err != nil {
			return bad("max_push: %v", err)
		}
	}
	if r.MaxBinary != "" {
		if _, err := ParseBytes(r.MaxBinary); err != nil {
			return bad("max_binary: %v", err)
		}
	}

	return nil
}

func mergeGit(a *Agent, raw *Git, path func(string) string) {
	if raw == nil {
		return
	}
	if a.Git == nil {
		a.Git = &Git{}
	}
	if raw.Enabled != nil {
		v := *raw.Enabled
		a.Git.Enabled = &v
	}
	for name, r := range raw.Remotes {
		for _, p := range []*string{&r.SSHKey, &r.KnownHosts, &r.TokenFile, &r.CAFile} {
			if *p != "" && !strings.HasPrefix(*p, "~/") {
				*p = path(*p)
			}
		}
		if a.Git.Remotes == nil {
			a.Git.Remotes = map[string]GitRemote{}
		}
		a.Git.Remotes[name] = r
	}
}

func (g *Git) clone() *Git {
	if g == nil {
		return nil
	}
	c := *g
	c.Remotes = maps.Clone(g.Remotes)
	return &c
}

// gitNarrows checks a working directory's git table against what the user
// granted: it may turn the gate off, hold pushes, protect more, refuse tags or
// lower max_push or max_binary, and nothing else.
func gitNarrows(wd *Git, anchor *Git) string {
	if wd == nil {
		return ""
	}
	for _, name := range slices.Sorted(maps.Keys(wd.Remotes)) {
		r := wd.Remotes[name]
		var g GitRemote
		ok := false
		if anchor != nil {
			g, ok = anchor.Remotes[name]
		}
		if !ok {
			return fmt.Sprintf("declares git remote %q", name)
		}
		gd, rd := g.WithDefaults(), r.WithDefaults()
		if r.URL != g.URL || r.SSHKey != g.SSHKey || r.KnownHosts != g.KnownHosts || r.TokenEnv != g.TokenEnv ||
			r.TokenFile != g.TokenFile || r.CAFile != g.CAFile || r.Username != g.Username {
			return fmt.Sprintf("changes git remote %q's url or credentials", name)
		}
		if !slices.Equal(r.Branches, g.Branches) {
			return fmt.Sprintf("changes git remote %q's branches", name)
		}
		if gd.Mode == GitHold && rd.Mode != GitHold {
			return fmt.Sprintf("turns git remote %q from hold to forward", name)
		}
		for _, p := range gd.Protected {
			if !slices.Contains(rd.Protected, p) {
				return fmt.Sprintf("unprotects branch %q of git remote %q", p, name)
			}
		}
		if rd.Tags && !gd.Tags {
			return fmt.Sprintf("allows tags on git remote %q", name)
		}
		if rd.MaxPushBytes > gd.MaxPushBytes {
			return fmt.Sprintf("raises git remote %q's max_push above %s", name, gd.MaxPush)
		}
		if rd.MaxBinaryBytes > gd.MaxBinaryBytes {
			return fmt.Sprintf("raises git remote %q's max_binary above %s", name, gd.MaxBinary)
		}
	}
	return ""
}
