package signin

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// A Login is the shape of one agent's subscription login file: where its
// tokens are, how they are refreshed, and what the agent's own copy holds
// in their place.
type Login interface {
	// tokens reads the access token, its expiry and the refresh token.
	tokens(whole map[string]any) (access, refresh string, exp time.Time, err error)
	// grant is the body of a refresh grant, and its content type.
	grant(refresh, clientID, scope string) ([]byte, string)
	// store writes a token endpoint's answer into the file.
	store(whole, answer map[string]any)
	// agentFile is the agent's copy of the file: placeholders for tokens.
	agentFile(whole map[string]any) (map[string]any, error)
	// placeholders swaps the tokens of a token endpoint's answer.
	placeholders(answer map[string]any) map[string]any
	// client is the agent's OAuth client and scope: every refresh bottle
	// makes is the CLI's.
	client() (id, scope string)
	// held is a token endpoint's answer made from the file, for an agent
	// that asked to refresh a token with time left (exp).
	held(whole map[string]any, exp time.Time) map[string]any
}

// secondsLeft is a token's time left as a token endpoint's expires_in.
func secondsLeft(exp time.Time) int64 { return max(int64(time.Until(exp)/time.Second), 0) }

// Logins are the login files bottle keeps on the host's side, by agent.
var Logins = map[string]Login{"claude": claudeLogin{}, "codex": codexLogin{}, "gemini": googleLogin{}}

// AgentCredentials is the agent's login file made from the host's: the
// same shape and fields, the tokens replaced with placeholders.
func AgentCredentials(agent string, host []byte) ([]byte, error) {
	l, ok := Logins[agent]
	if !ok {
		return nil, fmt.Errorf("no login file bottle keeps for %s", agent)
	}
	var whole map[string]any
	if err := json.Unmarshal(host, &whole); err != nil {
		return nil, fmt.Errorf("the login file is not JSON: %w", err)
	}
	out, err := l.agentFile(whole)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(out, "", "  ")
}

// Placeholders is a token endpoint's answer as the agent gets it.
func Placeholders(agent string, answer map[string]any) map[string]any {
	if l, ok := Logins[agent]; ok {
		return l.placeholders(answer)
	}
	return map[string]any{}
}

// IsRefreshGrant reports whether an agent's request to its token endpoint,
// JSON or form, is a refresh grant (anything else is a sign-in from inside
// the bottle). Its client and scope are not used: bottle refreshes as the
// agent's CLI does.
func IsRefreshGrant(body []byte) bool {
	var g struct {
		GrantType string `json:"grant_type"`
	}
	if json.Unmarshal(body, &g) != nil {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return false
		}
		g.GrantType = v.Get("grant_type")
	}
	return g.GrantType == "refresh_token"
}

// claudeLogin is Claude Code's .credentials.json: under "claudeAiOauth",
// an access token, a rotating refresh token and the access token's expiry
// (milliseconds since the epoch), with scopes and the subscription's type.
type claudeLogin struct{}

func (claudeLogin) oauth(whole map[string]any) (map[string]any, error) {
	o, ok := whole["claudeAiOauth"].(map[string]any)
	if !ok {
		return nil, errors.New("the Claude login has no claudeAiOauth")
	}
	return o, nil
}

func (l claudeLogin) tokens(whole map[string]any) (string, string, time.Time, error) {
	o, err := l.oauth(whole)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return str(o["accessToken"]), str(o["refreshToken"]), millis(o["expiresAt"]), nil
}

func (claudeLogin) grant(refresh, clientID, scope string) ([]byte, string) {
	b, _ := json.Marshal(map[string]string{"grant_type": "refresh_token", "refresh_token": refresh, "client_id": clientID, "scope": scope})
	return b, "application/json"
}

func (l claudeLogin) store(whole, res map[string]any) {
	o, err := l.oauth(whole)
	if err != nil {
		return
	}
	o["accessToken"] = res["access_token"]
	if rt := str(res["refresh_token"]); rt != "" {
		o["refreshToken"] = rt
	}
	o["expiresAt"] = time.Now().Add(time.Duration(num(res["expires_in"])) * time.Second).UnixMilli()
	if s := str(res["scope"]); s != "" {
		o["scopes"] = strings.Fields(s)
	}
	whole["claudeAiOauth"] = o
}

func (l claudeLogin) agentFile(whole map[string]any) (map[string]any, error) {
	o, err := l.oauth(whole)
	if err != nil {
		return nil, errors.New("the credentials file has no claudeAiOauth login")
	}
	out := map[string]any{}
	for k, v := range o {
		out[k] = v
	}
	out["accessToken"], out["refreshToken"] = PlaceholderAccess, PlaceholderRefresh
	return map[string]any{"claudeAiOauth": out}, nil
}

func (claudeLogin) placeholders(res map[string]any) map[string]any {
	out := copyMap(res)
	out["access_token"], out["refresh_token"] = PlaceholderAccess, PlaceholderRefresh
	return out
}

func (claudeLogin) client() (string, string) { return claudeClientID, claudeScope }

func (l claudeLogin) held(whole map[string]any, exp time.Time) map[string]any {
	o, _ := l.oauth(whole)
	var scopes []string
	if list, ok := o["scopes"].([]any); ok {
		for _, v := range list {
			scopes = append(scopes, str(v))
		}
	}
	return map[string]any{"access_token": o["accessToken"], "refresh_token": o["refreshToken"], "expires_in": secondsLeft(exp),
		"token_type": "Bearer", "scope": strings.Join(scopes, " ")}
}

// codexLogin is the Codex CLI's auth.json when signed in with ChatGPT:
// under "tokens", an ID token (a JWT Codex reads its account's claims
// from), an access token (a JWT whose expiry Codex reads), a rotating
// refresh token and the account's id; "last_refresh" beside them.
type codexLogin struct{}

const (
	codexClientID = "app_EMoamEEZ73f0CkXaXp7hrann"
	codexScope    = "openid profile email"
	// CodexPlaceholderRefresh is the refresh token the agent's file holds.
	CodexPlaceholderRefresh = "bottle-placeholder-refresh"
	// placeholderSignature stands in a placeholder JWT for the signature:
	// the agent reads the token's claims; it cannot use the token.
	placeholderSignature = "bottle-placeholder"
)

func (codexLogin) tokensOf(whole map[string]any) (map[string]any, error) {
	t, ok := whole["tokens"].(map[string]any)
	if !ok {
		return nil, errors.New("the Codex login has no tokens (sign in with ChatGPT: codex login)")
	}
	return t, nil
}

func (l codexLogin) tokens(whole map[string]any) (string, string, time.Time, error) {
	t, err := l.tokensOf(whole)
	if err != nil {
		return "", "", time.Time{}, err
	}
	access := str(t["access_token"])
	return access, str(t["refresh_token"]), jwtExpiry(access), nil
}

func (codexLogin) grant(refresh, clientID, scope string) ([]byte, string) {
	b, _ := json.Marshal(map[string]string{"client_id": clientID, "grant_type": "refresh_token", "refresh_token": refresh, "scope": scope})
	return b, "application/json"
}

func (l codexLogin) store(whole, res map[string]any) {
	t, err := l.tokensOf(whole)
	if err != nil {
		return
	}
	for _, k := range []string{"access_token", "id_token", "refresh_token"} {
		if v := str(res[k]); v != "" {
			t[k] = v
		}
	}
	whole["tokens"] = t
	whole["last_refresh"] = time.Now().UTC().Format(time.RFC3339Nano)
}

func (l codexLogin) agentFile(whole map[string]any) (map[string]any, error) {
	t, err := l.tokensOf(whole)
	if err != nil {
		return nil, err
	}
	out := copyMap(whole)
	out["OPENAI_API_KEY"] = nil // an API key kept in the file stays on the host too
	pt := copyMap(t)
	pt["access_token"], pt["id_token"] = placeholderJWT(str(t["access_token"])), placeholderJWT(str(t["id_token"]))
	pt["refresh_token"] = CodexPlaceholderRefresh
	out["tokens"] = pt
	return out, nil
}

func (codexLogin) placeholders(res map[string]any) map[string]any {
	out := copyMap(res)
	for _, k := range []string{"access_token", "id_token"} {
		if v := str(res[k]); v != "" {
			out[k] = placeholderJWT(v)
		}
	}
	if str(res["refresh_token"]) != "" {
		out["refresh_token"] = CodexPlaceholderRefresh
	}
	return out
}

func (codexLogin) client() (string, string) { return codexClientID, codexScope }

func (l codexLogin) held(whole map[string]any, _ time.Time) map[string]any {
	t, _ := l.tokensOf(whole)
	out := map[string]any{}
	for _, k := range []string{"access_token", "id_token", "refresh_token"} {
		if v := str(t[k]); v != "" {
			out[k] = v
		}
	}
	return out
}

// googleLogin is the Gemini CLI's oauth_creds.json when signed in with
// Google: the OAuth client's tokens as Google's library keeps them (an
// access token, a refresh token, an ID token, the access token's expiry in
// milliseconds since the epoch). Google does not rotate the refresh token.
type googleLogin struct{}

// The Gemini CLI's OAuth client: an installed application's, whose secret
// is public by design (it ships in the CLI).
const (
	geminiClientID     = "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"
	geminiClientSecret = "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"
	geminiScope        = "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile"
	// The placeholders the agent's file holds, shaped like Google's tokens.
	GooglePlaceholderAccess  = "ya29.bottle-placeholder-access"
	GooglePlaceholderRefresh = "1//bottle-placeholder-refresh"
)

func (googleLogin) tokens(whole map[string]any) (string, string, time.Time, error) {
	if str(whole["refresh_token"]) == "" && str(whole["access_token"]) == "" {
		return "", "", time.Time{}, errors.New("the Google login has no tokens (sign in with Google: gemini)")
	}
	return str(whole["access_token"]), str(whole["refresh_token"]), millis(whole["expiry_date"]), nil
}

func (googleLogin) grant(refresh, clientID, scope string) ([]byte, string) {
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {clientID}}
	if clientID == geminiClientID {
		v.Set("client_secret", geminiClientSecret)
	}
	return []byte(v.Encode()), "application/x-www-form-urlencoded"
}

func (googleLogin) store(whole, res map[string]any) {
	for _, k := range []string{"access_token", "refresh_token", "id_token", "scope", "token_type"} {
		if v := str(res[k]); v != "" {
			whole[k] = v
		}
	}
	whole["expiry_date"] = time.Now().Add(time.Duration(num(res["expires_in"])) * time.Second).UnixMilli()
}

func (l googleLogin) agentFile(whole map[string]any) (map[string]any, error) {
	if _, _, _, err := l.tokens(whole); err != nil {
		return nil, err
	}
	return l.placeholders(whole), nil
}

func (googleLogin) placeholders(res map[string]any) map[string]any {
	out := copyMap(res)
	if str(res["access_token"]) != "" {
		out["access_token"] = GooglePlaceholderAccess
	}
	if str(res["refresh_token"]) != "" {
		out["refresh_token"] = GooglePlaceholderRefresh
	}
	if v := str(res["id_token"]); v != "" {
		out["id_token"] = placeholderJWT(v)
	}
	return out
}

func (googleLogin) client() (string, string) { return geminiClientID, geminiScope }

func (googleLogin) held(whole map[string]any, exp time.Time) map[string]any {
	out := map[string]any{"access_token": whole["access_token"], "expires_in": secondsLeft(exp), "token_type": "Bearer"}
	for _, k := range []string{"scope", "id_token"} {
		if v := str(whole[k]); v != "" {
			out[k] = v
		}
	}
	return out
}

// placeholderJWT keeps a JWT's header and claims (what an agent reads of
// it: the account, the plan, the expiry) and drops its signature, so it
// proves nothing to anyone: the proxy puts the real token in its place.
func placeholderJWT(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return placeholderSignature
	}
	return parts[0] + "." + parts[1] + "." + placeholderSignature
}

// IsPlaceholderJWT says whether a bearer value is one bottle made.
func IsPlaceholderJWT(s string) bool { return strings.HasSuffix(s, "."+placeholderSignature) }

// jwtExpiry is a JWT's exp claim, or the zero time.
func jwtExpiry(jwt string) time.Time {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(data, &c) != nil || c.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(c.Exp, 0)
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
