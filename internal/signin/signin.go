// Package signin signs a bottle's agent in the way its person signs in on
// the host, without the bottle ever holding the login: an API key or a
// long-lived token is injected by the egress proxy in place of a
// placeholder; a subscription login (the agent's credentials file, with a
// rotating refresh token) is kept on the host's side, the agent's home
// getting a file of the same shape that holds placeholders.
package signin

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/config"
)

// The ways to sign in, in the order auto tries them.
const (
	UseAuto        = "auto"
	UseAPIKey      = "api-key"
	UseToken       = "token"
	UseCredentials = "credentials"
)

// Scheme is how one agent signs in.
type Scheme struct {
	Agent string
	// APIHost is where the agent's requests carry the sign-in.
	APIHost string
	// The API key: an env variable on the host, sent in a header (as
	// KeyValue says, "{secret}" when empty).
	KeyEnv, KeyHeader, KeyValue string
	// The long-lived token: an env variable, sent as a bearer token ("":
	// the agent has none).
	TokenEnv string
	// CredentialsFile is the subscription login's file under the host
	// user's home (ConfigDirEnv, when set on the host, is its folder).
	CredentialsFile, ConfigDirEnv string
	// LoginHosts are where the login's requests go, when not to APIHost;
	// a route to each is added when the profile has none.
	LoginHosts []string
	// LoginArgs and LoginEnv are the agent's arguments and environment
	// when signed in with the login.
	LoginArgs []string
	LoginEnv  map[string]string
	// TokenHost and TokenPath are the OAuth token endpoint its refreshes
	// go to; TokenInfoPath, on the same host, is asked about the access
	// token (it gets the real one, like the API).
	TokenHost, TokenPath, TokenInfoPath string
	// Calls are, by host, the requests the agent's own CLI makes with the
	// login (recorded from the real CLIs, and read in their clients' code):
	// a route that carries the login carries those alone, and the token
	// endpoint's first call is its refresh.
	Calls map[string][]string
	// Hint is how a person signs in with the agent on the host.
	Hint string
}

// Schemes are the agents bottle signs in.
var Schemes = map[string]Scheme{
	"claude": {
		Agent: "claude", APIHost: "api.anthropic.com",
		KeyEnv: "ANTHROPIC_API_KEY", KeyHeader: "x-api-key",
		TokenEnv:        "CLAUDE_CODE_OAUTH_TOKEN",
		CredentialsFile: ".claude/.credentials.json", ConfigDirEnv: "CLAUDE_CONFIG_DIR",
		TokenHost: "platform.claude.com", TokenPath: "/v1/oauth/token",
		Calls: map[string][]string{
			"api.anthropic.com": {"POST /v1/messages", "POST /v1/messages/count_tokens", "GET /api/oauth/profile",
				"GET /api/claude_code/settings", "GET /api/claude_code/policy_limits"},
			"platform.claude.com": {"POST /v1/oauth/token"},
		},
		Hint: "set ANTHROPIC_API_KEY, or CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`), or sign in with claude here",
	},
	"codex": {
		Agent: "codex", APIHost: "api.openai.com",
		KeyEnv: "OPENAI_API_KEY", KeyHeader: "authorization", KeyValue: "Bearer {secret}",
		CredentialsFile: ".codex/auth.json", ConfigDirEnv: "CODEX_HOME",
		// Signed in with ChatGPT, Codex talks to ChatGPT's backend with the
		// login's tokens, read from auth.json (requires_openai_auth).
		LoginHosts: []string{"chatgpt.com"},
		LoginArgs:  []string{"-c", `model_providers.bottle={name="OpenAI",base_url="https://chatgpt.com/backend-api/codex",requires_openai_auth=true,wire_api="responses",supports_websockets=false}`},
		TokenHost:  "auth.openai.com", TokenPath: "/oauth/token",
		Calls: map[string][]string{
			// Not ChatGPT's apps (/backend-api/ps/mcp, the person's connected
			// mail and drives, as the person): Codex does its turn without.
			"chatgpt.com": {"POST /backend-api/codex/responses", "GET /backend-api/codex/models",
				"GET /backend-api/wham/accounts/check", "GET /backend-api/wham/settings/user",
				// What its terminal session shows of the person's Codex limits.
				"GET /backend-api/wham/usage", "GET /backend-api/wham/rate-limit-reset-credits",
				"GET /backend-api/ps/plugins/installed", "GET /backend-api/ps/plugins/suggested/codex", "GET /backend-api/ps/plugins/tooling-state/*"},
			"auth.openai.com": {"POST /oauth/token"},
		},
		Hint: "set OPENAI_API_KEY, or sign in with ChatGPT here (codex login)",
	},
	"gemini": {
		Agent: "gemini", APIHost: "generativelanguage.googleapis.com",
		KeyEnv: "GEMINI_API_KEY", KeyHeader: "x-goog-api-key",
		CredentialsFile: ".gemini/oauth_creds.json",
		// Signed in with Google, the Gemini CLI talks to Code Assist, and
		// asks Google whose the token is.
		LoginHosts: []string{"cloudcode-pa.googleapis.com", "www.googleapis.com"},
		LoginEnv:   map[string]string{"GEMINI_DEFAULT_AUTH_TYPE": "oauth-personal", "GOOGLE_GENAI_USE_GCA": "true"},
		TokenHost:  "oauth2.googleapis.com", TokenPath: "/token", TokenInfoPath: "/tokeninfo",
		Calls: map[string][]string{
			// Code Assist's methods as the CLI's client calls them in a
			// session (a first one onboards), not the setting it changes
			// when the person asks it to (setCodeAssistGlobalUserSetting).
			"cloudcode-pa.googleapis.com": {"POST /v1internal:loadCodeAssist", "POST /v1internal:onboardUser", "GET /v1internal/operations/*",
				"POST /v1internal:generateContent", "POST /v1internal:streamGenerateContent", "POST /v1internal:countTokens",
				"POST /v1internal:retrieveUserQuota", "POST /v1internal:listExperiments", "POST /v1internal:recordCodeAssistMetrics",
				"POST /v1internal:fetchAdminControls", "GET /v1internal:getCodeAssistGlobalUserSetting"},
			"www.googleapis.com":    {"GET /oauth2/v2/userinfo"},
			"oauth2.googleapis.com": {"POST /token", "POST /tokeninfo"},
		},
		Hint: "set GEMINI_API_KEY, or sign in with Google here (gemini)",
	},
}

// Choice is the sign-in a bottle uses, for the preflight: never a value.
type Choice struct {
	Use    string
	Source string // e.g. "env ANTHROPIC_API_KEY", "file ~/.claude/.credentials.json"
	// Credentials is the host's credentials file (UseCredentials).
	Credentials string
}

// Host is what Apply reads of the host: its environment and home.
type Host struct {
	Getenv func(string) string
	Home   string
}

// Apply signs the profile in: the route to the scheme's API host gets the
// chosen credential, unless the profile gives that route one itself. It
// returns a copy; the profile is left as it was.
func Apply(a *config.Agent, h Host) (*config.Agent, *Choice, error) {
	if a.Signin == nil || a.Signin.Agent == "" {
		return a, nil, nil
	}
	sc, ok := Schemes[a.Signin.Agent]
	if !ok {
		return nil, nil, fmt.Errorf("profile %s: signin.agent %q is not one bottle signs in (%s)", a.Name, a.Signin.Agent, strings.Join(names(), ", "))
	}
	i := slices.IndexFunc(a.Egress, func(r config.Route) bool { return r.Host == sc.APIHost })
	if i < 0 {
		return nil, nil, fmt.Errorf("profile %s: signin for %s needs an egress route to %s", a.Name, sc.Agent, sc.APIHost)
	}
	if a.Egress[i].Credential != nil {
		return a, &Choice{Use: "the route's own credential", Source: a.Egress[i].Credential.Source()}, nil
	}
	ch, err := sc.choose(a.Signin.Use, h)
	if err != nil {
		return nil, nil, fmt.Errorf("profile %s: %w", a.Name, err)
	}
	out := *a
	out.Egress = slices.Clone(a.Egress)
	r := out.Egress[i]
	switch ch.Use {
	case UseAPIKey:
		value := sc.KeyValue
		if value == "" {
			value = "{secret}"
		}
		r.Credential = &config.Credential{Header: sc.KeyHeader, Value: value, FromEnv: sc.KeyEnv, AgentEnv: sc.KeyEnv}
	case UseToken:
		// A long-lived login token: the person's, as the login is.
		r.Credential = &config.Credential{Header: "authorization", Value: "Bearer {secret}", FromEnv: sc.TokenEnv, AgentEnv: sc.TokenEnv}
		r.Calls = sc.Calls[sc.APIHost]
	case UseCredentials:
		if len(sc.LoginHosts) > 0 {
			// The login goes to hosts of its own; the API route stays as it was.
			for _, h := range sc.LoginHosts {
				j := slices.IndexFunc(out.Egress, func(r config.Route) bool { return r.Host == h })
				if j < 0 {
					out.Egress = append(out.Egress, config.Route{Host: h, Ports: []int{443}, Inbound: r.Inbound})
					j = len(out.Egress) - 1
				}
				out.Egress[j].Signin = sc.Agent
				out.Egress[j].Calls = sc.Calls[h]
			}
			out.AlwaysArgs = append(slices.Clone(a.AlwaysArgs), sc.LoginArgs...)
			if len(sc.LoginEnv) > 0 {
				out.Env = maps.Clone(a.Env)
				if out.Env == nil {
					out.Env = map[string]string{}
				}
				maps.Copy(out.Env, sc.LoginEnv)
			}
		} else {
			r.Signin, r.Calls = sc.Agent, sc.Calls[sc.APIHost]
		}
		paths := []string{sc.TokenPath}
		if sc.TokenInfoPath != "" {
			paths = append(paths, sc.TokenInfoPath)
		}
		token := config.Route{Host: sc.TokenHost, Ports: []int{443}, Methods: []string{"POST"}, Paths: paths, Signin: sc.Agent + "-token", Calls: sc.Calls[sc.TokenHost]}
		if j := slices.IndexFunc(out.Egress, func(r config.Route) bool { return r.Host == sc.TokenHost }); j >= 0 {
			token.Upstream, token.UpstreamCA = out.Egress[j].Upstream, out.Egress[j].UpstreamCA
			out.Egress[j] = token
		} else {
			out.Egress = append(out.Egress, token)
		}
	}
	out.Egress[i] = r
	return &out, ch, nil
}

// choose picks the sign-in: the one asked for, or the first the host has.
func (sc Scheme) choose(use string, h Host) (*Choice, error) {
	cred := sc.credentialsPath(h)
	has := map[string]*Choice{}
	if h.Getenv(sc.KeyEnv) != "" {
		has[UseAPIKey] = &Choice{Use: UseAPIKey, Source: "env " + sc.KeyEnv}
	}
	if sc.TokenEnv != "" && h.Getenv(sc.TokenEnv) != "" {
		has[UseToken] = &Choice{Use: UseToken, Source: "env " + sc.TokenEnv}
	}
	if fi, err := os.Stat(cred); err == nil && fi.Mode().IsRegular() {
		has[UseCredentials] = &Choice{Use: UseCredentials, Source: "file " + cred, Credentials: cred}
	}
	if use == "" || use == UseAuto {
		for _, u := range []string{UseAPIKey, UseToken, UseCredentials} {
			if c := has[u]; c != nil {
				return c, nil
			}
		}
		return nil, fmt.Errorf("no sign-in for %s on this machine: %s (%s)", sc.Agent, sc.Hint, cred)
	}
	if c := has[use]; c != nil {
		return c, nil
	}
	switch use {
	case UseAPIKey:
		return nil, fmt.Errorf("signin.use = %q, but %s is not set on the host", use, sc.KeyEnv)
	case UseToken:
		if sc.TokenEnv == "" {
			return nil, fmt.Errorf("signin.use = %q, but %s has no long-lived token: use %q or %q", use, sc.Agent, UseAPIKey, UseCredentials)
		}
		return nil, fmt.Errorf("signin.use = %q, but %s is not set on the host (make one with `claude setup-token`)", use, sc.TokenEnv)
	case UseCredentials:
		return nil, fmt.Errorf("signin.use = %q, but %s is not there: sign in with %s on this machine first", use, cred, sc.Agent)
	}
	return nil, errors.New("unreachable")
}

func (sc Scheme) credentialsPath(h Host) string {
	if d := h.Getenv(sc.ConfigDirEnv); d != "" {
		return filepath.Join(d, filepath.Base(sc.CredentialsFile))
	}
	return filepath.Join(h.Home, sc.CredentialsFile)
}

func names() []string {
	var n []string
	for k := range Schemes {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}
