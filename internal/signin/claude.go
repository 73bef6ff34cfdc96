package signin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// Claude Code's login, as it keeps it in .credentials.json: under
// "claudeAiOauth", an access token, a rotating refresh token and the access
// token's expiry (milliseconds since the epoch), with scopes and the
// subscription's type beside them.

// The placeholders the agent's file holds in place of the tokens: shaped
// like the real ones, so Claude Code takes itself to be signed in.
const (
	PlaceholderAccess  = "sk-ant-oat01-bottle-placeholder-access"
	PlaceholderRefresh = "sk-ant-ort01-bottle-placeholder-refresh"
)

// Claude Code's OAuth client and scopes, for a refresh bottle makes on its
// own (the access token ran out before the agent asked).
const (
	claudeClientID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
	claudeScope    = "user:profile user:inference user:sessions:claude_code"
)

// AgentCredentials is the agent's credentials file made from the host's:
// the same shape and fields, the tokens replaced with placeholders.
func AgentCredentials(host []byte) ([]byte, error) {
	var f map[string]any
	if err := json.Unmarshal(host, &f); err != nil {
		return nil, fmt.Errorf("the credentials file is not JSON: %w", err)
	}
	o, ok := f["claudeAiOauth"].(map[string]any)
	if !ok {
		return nil, errors.New("the credentials file has no claudeAiOauth login")
	}
	out := map[string]any{}
	for k, v := range o {
		out[k] = v
	}
	out["accessToken"], out["refreshToken"] = PlaceholderAccess, PlaceholderRefresh
	return json.MarshalIndent(map[string]any{"claudeAiOauth": out}, "", "  ")
}

// Refresher keeps a Claude login fresh for every bottle that signs in with
// it: it reads the host's credentials file, refreshes against the token
// endpoint when asked or when the access token runs out, and writes the
// rotated pair back into that file, in place, under an exclusive lock on
// it, so bottles refreshing at once take turns and each uses the refresh
// token the one before it left.
type Refresher struct {
	File     string // the host's credentials file (as mounted)
	TokenURL string // the OAuth token endpoint
	Client   *http.Client
}

// Access returns a fresh access token and its expiry, refreshing first if
// it has under two minutes left.
func (r *Refresher) Access(ctx context.Context) (string, time.Time, error) {
	var token string
	var exp time.Time
	err := r.locked(func(f *os.File, o map[string]any, whole map[string]any) error {
		token, exp = str(o["accessToken"]), millis(o["expiresAt"])
		if token != "" && time.Until(exp) > 2*time.Minute {
			return nil
		}
		res, err := r.refresh(ctx, f, o, whole, claudeClientID, claudeScope)
		if err != nil {
			return err
		}
		token, exp = str(res["access_token"]), time.Now().Add(time.Duration(num(res["expires_in"]))*time.Second)
		return nil
	})
	return token, exp, err
}

// Refresh refreshes the login (an agent asked to), and returns the token
// endpoint's answer: its tokens are the real ones, for the caller to swap.
func (r *Refresher) Refresh(ctx context.Context, clientID, scope string) (map[string]any, error) {
	if clientID == "" {
		clientID = claudeClientID
	}
	if scope == "" {
		scope = claudeScope
	}
	var res map[string]any
	err := r.locked(func(f *os.File, o map[string]any, whole map[string]any) error {
		var err error
		res, err = r.refresh(ctx, f, o, whole, clientID, scope)
		return err
	})
	return res, err
}

// locked opens and locks the file, reads it, and runs fn.
func (r *Refresher) locked(fn func(f *os.File, o, whole map[string]any) error) error {
	f, err := os.OpenFile(r.File, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("the host's Claude login: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock the host's Claude login: %w", err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	var whole map[string]any
	if err := json.Unmarshal(data, &whole); err != nil {
		return fmt.Errorf("the host's Claude login is not JSON: %w", err)
	}
	o, ok := whole["claudeAiOauth"].(map[string]any)
	if !ok {
		return errors.New("the host's Claude login has no claudeAiOauth")
	}
	return fn(f, o, whole)
}

// refresh makes one refresh grant with the file's refresh token and
// writes the new pair into the file; the caller holds the lock.
func (r *Refresher) refresh(ctx context.Context, f *os.File, o, whole map[string]any, clientID, scope string) (map[string]any, error) {
	grant, _ := json.Marshal(map[string]string{"grant_type": "refresh_token", "refresh_token": str(o["refreshToken"]), "client_id": clientID, "scope": scope})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.TokenURL, bytes.NewReader(grant))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("refresh the Claude login: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("refresh the Claude login: the token endpoint answered %d", resp.StatusCode)
	}
	var res map[string]any
	if err := json.Unmarshal(body, &res); err != nil || str(res["access_token"]) == "" {
		return nil, errors.New("refresh the Claude login: the token endpoint's answer has no access token")
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
	data, err := json.MarshalIndent(whole, "", "  ")
	if err != nil {
		return nil, err
	}
	// In place: the file keeps its owner, mode and inode (another bottle's
	// gateway may hold it, mounted).
	if err := f.Truncate(0); err != nil {
		return nil, err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	return res, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) float64 {
	n, _ := v.(float64)
	return n
}

func millis(v any) time.Time { return time.UnixMilli(int64(num(v))) }
