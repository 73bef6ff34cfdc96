package gitgate

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

func TestRulesCheck(t *testing.T) {
	a := plumbing.NewHash("1111111111111111111111111111111111111111")
	b := plumbing.NewHash("2222222222222222222222222222222222222222")
	z := plumbing.ZeroHash
	def := Rules{Protected: []string{"main", "master"}, MaxPush: 1 << 20}
	narrow := Rules{Branches: []string{"bottle/{identity}/*"}, Protected: []string{"release/*"}, Tags: true}
	for _, c := range []struct {
		name  string
		rules Rules
		u     Update
		want  string // "" allowed, else a part of the reason
	}{
		{"new branch", def, Update{Ref: "refs/heads/feature", New: a}, ""},
		{"fast-forward", def, Update{Ref: "refs/heads/feature", Old: a, New: b, FastForward: true}, ""},
		{"force-push", def, Update{Ref: "refs/heads/feature", Old: a, New: b}, "force-push to feature is not allowed"},
		{"delete", def, Update{Ref: "refs/heads/feature", Old: a, New: z}, "deleting branch feature is not allowed"},
		{"protected main", def, Update{Ref: "refs/heads/main", Old: a, New: b, FastForward: true}, "branch main is protected"},
		{"protected master created", def, Update{Ref: "refs/heads/master", New: a}, "branch master is protected"},
		{"upstream default", def, Update{Ref: "refs/heads/trunk", Old: a, New: b, FastForward: true}, "branch trunk is protected"},
		{"tag refused", def, Update{Ref: "refs/tags/v1", New: a}, "tags are not allowed (tag v1)"},
		{"other ref", def, Update{Ref: "refs/notes/commits", New: a}, "only branches can be pushed"},
		{"own prefix", narrow, Update{Ref: "refs/heads/bottle/abc/x/y", New: a}, ""},
		{"outside prefix", narrow, Update{Ref: "refs/heads/feature", New: a}, "not one the agent may push (allowed: bottle/abc/*)"},
		{"another bottle's prefix", narrow, Update{Ref: "refs/heads/bottle/zzz/x", New: a}, "not one the agent may push"},
		{"protected glob", narrow, Update{Ref: "refs/heads/release/1.0", New: a}, "branch release/1.0 is protected"},
		{"main not protected by narrow rules but outside prefix", narrow, Update{Ref: "refs/heads/main", New: a}, "not one the agent may push"},
		{"tag allowed", narrow, Update{Ref: "refs/tags/v1", New: a}, ""},
		{"tag moved", narrow, Update{Ref: "refs/tags/v1", Old: a, New: b}, "moving tag v1 is not allowed"},
		{"tag deleted", narrow, Update{Ref: "refs/tags/v1", Old: a}, "deleting tag v1 is not allowed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.rules.Check(c.u, "abc", "trunk")
			if c.want == "" && got != "" {
				t.Fatalf("refused: %s", got)
			}
			if c.want != "" && !strings.Contains(got, c.want) {
				t.Fatalf("got %q, want it to say %q", got, c.want)
			}
		})
	}
}

func TestAgentEnv(t *testing.T) {
	env := AgentEnv([]Remote{{Name: "origin", AgentURLs: []string{"git@h:r.git", "https://h/r.git"}}, {Name: "up"}})
	want := map[string]string{
		"GIT_CONFIG_COUNT":   "2",
		"GIT_CONFIG_KEY_0":   "url.http://127.0.0.1:7300/origin.git.insteadOf",
		"GIT_CONFIG_VALUE_0": "git@h:r.git",
		"GIT_CONFIG_KEY_1":   "url.http://127.0.0.1:7300/origin.git.insteadOf",
		"GIT_CONFIG_VALUE_1": "https://h/r.git",
	}
	if len(env) != len(want) {
		t.Fatalf("env = %v", env)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
}
