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
	"sync"
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

// Refresher keeps a login fresh for every bottle that signs in with it: it
// reads the host's login file, refreshes against the token endpoint when
// the access token is near its expiry, and writes the rotated tokens
// back into that file, in place, under an exclusive lock on it, so bottles
// refreshing at once take turns and each uses the refresh token the one
// before it left. It refreshes as the agent's CLI does (its client and
// scopes), whoever asks, and at most as often as Limit allows.
type Refresher struct {
	File     string // the host's credentials file (as mounted)
	Login    Login  // its shape (nil: Claude's)
	TokenURL string // the OAuth token endpoint
	Client   *http.Client
	Limit    *Limit // nil: no limit
}

// NearExpiry is how little time left makes a token due for refreshing.
const NearExpiry = 5 * time.Minute

// Limit spaces real refreshes: at most one each Every.
type Limit struct {
	Every time.Duration
	mu    sync.Mutex
	last  time.Time
}

// take reports whether a refresh may be made now, and counts it if so.
func (l *Limit) take() bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && time.Since(l.last) < l.Every {
		return false
	}
	l.last = time.Now()
	return true
}

func (r *Refresher) login() Login {
	if r.Login == nil {
		return claudeLogin{}
	}
	return r.Login
}

// Access returns a fresh access token and its expiry, refreshing first if
// it is near its expiry.
func (r *Refresher) Access(ctx context.Context) (string, time.Time, error) {
	var token string
	var exp time.Time
	err := r.locked(func(f *os.File, whole map[string]any) error {
		if _, err := r.fresh(ctx, f, whole); err != nil {
			return err
		}
		token, _, exp, _ = r.login().tokens(whole)
		return nil
	})
	return token, exp, err
}

// Refresh answers an agent's refresh: the token endpoint's answer when the
// login was due and was refreshed, else an answer of the same shape from
// the held token. Its tokens are the real ones, for the caller to swap.
// The agent's own client and scope are never used.
func (r *Refresher) Refresh(ctx context.Context) (map[string]any, error) {
	var res map[string]any
	err := r.locked(func(f *os.File, whole map[string]any) error {
		var err error
		if res, err = r.fresh(ctx, f, whole); err != nil || res != nil {
			return err
		}
		_, _, exp, _ := r.login().tokens(whole)
		res = r.login().held(whole, exp)
		return nil
	})
	return res, err
}

// fresh refreshes the login if its access token is near its expiry and
// the limit allows, returning the token endpoint's answer (nil when the
// held token stays); the caller holds the lock. A token already run out
// that the limit keeps from refreshing is an error.
func (r *Refresher) fresh(ctx context.Context, f *os.File, whole map[string]any) (map[string]any, error) {
	token, refresh, exp, err := r.login().tokens(whole)
	if err != nil {
		return nil, err
	}
	if token != "" && time.Until(exp) > NearExpiry {
		return nil, nil
	}
	if !r.Limit.take() {
		if token != "" && time.Until(exp) > 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("the login's access token has run out, and it was refreshed less than %s ago: bottle waits before refreshing it again", r.Limit.Every)
	}
	id, scope := r.login().client()
	res, err := r.refresh(ctx, f, whole, refresh, id, scope)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// locked opens and locks the file, reads it, and runs fn.
func (r *Refresher) locked(fn func(f *os.File, whole map[string]any) error) error {
	f, err := os.OpenFile(r.File, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("the host's login: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock the host's login: %w", err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	var whole map[string]any
	if err := json.Unmarshal(data, &whole); err != nil {
		return fmt.Errorf("the host's login is not JSON: %w", err)
	}
	return fn(f, whole)
}

// refresh makes one refresh grant with the file's refresh token and
// writes the new tokens into the file; the caller holds the lock.
func (r *Refresher) refresh(ctx context.Context, f *os.File, whole map[string]any, refresh, clientID, scope string) (map[string]any, error) {
	body, ctype := r.login().grant(refresh, clientID, scope)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.TokenURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := r.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("refresh the login: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("refresh the login: the token endpoint answered %d", resp.StatusCode)
	}
	var res map[string]any
	if err := json.Unmarshal(data, &res); err != nil || str(res["access_token"]) == "" {
		return nil, errors.New("refresh the login: the token endpoint's answer has no access token")
	}
	r.login().store(whole, res)
	out, err := json.MarshalIndent(whole, "", "  ")
	if err != nil {
		return nil, err
	}
	// In place: the file keeps its owner, mode and inode (another bottle's
	// gateway may hold it, mounted).
	if err := f.Truncate(0); err != nil {
		return nil, err
	}
	if _, err := f.WriteAt(out, 0); err != nil {
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
	switch n := v.(type) {
	case float64:
		return n
	case int64: // as store writes it, before the file is read again
		return float64(n)
	}
	return 0
}

func millis(v any) time.Time { return time.UnixMilli(int64(num(v))) }
