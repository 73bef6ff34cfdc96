package egress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// WarmFile, in the egress folder, holds a warm bottle's proxy back: it
// says it is ready and loads nothing (no routes, secrets or CA are its
// yet) until the bottle is claimed and the file goes (Release).
const WarmFile = "warm"

// PrepareClaimed is Prepare for a warm bottle being claimed, whose gateway
// and held-back proxy run already: the gateway's socket stays; the CA made
// when it was warmed stays (its key is mounted into the proxy's container
// as a file: a new file there would not be the one mounted); the secrets
// are written into the mounted file itself, which the proxy reads once
// released.
func PrepareClaimed(ctx context.Context, identity, dir, gatewayDir, agentDir string, routes []config.Route, approved []Route, buildRoutes []config.Route, gitDests, gitNamed []string) (secretValues []string, err error) {
	return prepare(ctx, identity, dir, gatewayDir, agentDir, routes, approved, buildRoutes, gitDests, gitNamed, true)
}

// HoldForClaim marks a warm bottle's egress folder dir so that its proxy
// waits for the claim.
func HoldForClaim(dir string) error {
	return beneath.At(dir).WriteFile(WarmFile, nil, 0o644)
}

// Unhold takes the warm file from a claimed bottle's egress folder dir,
// for an engine that releases the proxy itself (on a cluster, the proxy
// reads a copy of the folder).
func Unhold(dir string) error {
	return beneath.At(dir).Remove(WarmFile)
}

// Release lets a claimed bottle's proxy go on (everything it loads is
// written), and waits, for at most within, until it serves again: its
// ready files (the claim removed them) are there. Its start is then
// done, as a cold start's is once its sidecars are ready.
func Release(dir string, ready []string, within time.Duration) error {
	if err := beneath.At(dir).Remove(WarmFile); err != nil {
		return err
	}
	deadline := time.Now().Add(within)
	for _, f := range ready {
		for {
			if _, err := os.Stat(f); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the claimed bottle's proxy does not serve after %s: %s is not there", within, f)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// AwaitClaim holds a warm bottle's proxy (its folder dir holds WarmFile)
// until the bottle is claimed: it makes the ready files a started proxy
// makes, so the warm bottle's start sees it up, and waits for WarmFile to
// go. The claim removes those ready files before it releases the proxy,
// which then loads the bottle's routes, secrets and CA and makes them
// again. A proxy whose folder holds no WarmFile goes on at once.
func AwaitClaim(ctx context.Context, dir string, ready []string) error {
	warm := filepath.Join(dir, WarmFile)
	if _, err := os.Stat(warm); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for _, f := range ready {
		if err := os.WriteFile(f, []byte("warm\n"), 0o644); err != nil {
			return fmt.Errorf("warm: %w", err)
		}
	}
	for {
		if _, err := os.Stat(warm); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// bottleCA makes the bottle's CA (the key for the proxy alone, the
// certificate beside it) and returns its certificate; for a claim, it is
// the one made when the bottle was warmed.
func bottleCA(eg beneath.Dir, identity string, claim bool) ([]byte, error) {
	if claim {
		return eg.ReadFile(CAFile)
	}
	certPEM, keyPEM, err := NewCA(identity)
	if err != nil {
		return nil, err
	}
	if err := eg.WriteFile(CAKeyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := eg.WriteFile(CAFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	return certPEM, nil
}

// overwriteJSON writes v into the file rel itself, not a new one in its
// place: a running container has it mounted.
func overwriteJSON(d beneath.Dir, rel string, v any, _ os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", rel, err)
	}
	f, err := d.OpenFile(rel, os.O_WRONLY|os.O_TRUNC, 0) // its mode stays
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", rel, err)
	}
	return f.Close()
}
