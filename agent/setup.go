package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/dlp"
)

// The person's own agent setup (CLAUDE.md, settings, agents, commands,
// skills; AGENTS.md; GEMINI.md) comes into the bottle's home from theirs:
// copied at a bottle's first start and kept as the agent leaves it after
// that; never written back. Links are not followed, and what names a login
// is never copied.

// credentialNames are files a setup copy never takes.
var credentialNames = []string{".credentials.json", "auth.json", "oauth_creds.json", "google_accounts.json", ".netrc", "credentials", "credentials.json"}

// secretName reports whether a file's name says it holds a login or a key.
func secretName(name string) bool {
	lower := strings.ToLower(name)
	for _, c := range credentialNames {
		if lower == c {
			return true
		}
	}
	return strings.HasSuffix(lower, ".pem") || strings.HasSuffix(lower, ".key") || strings.HasPrefix(lower, "id_") || strings.HasPrefix(lower, ".env")
}

// Bounds on a setup copy: an agent's settings, not a disk.
const (
	maxSetupFiles = 5000
	maxSetupBytes = 64 << 20
)

// CopySetup copies rels (paths below hostHome: files or folders) into the
// agent's home. A path that is not there is left out; so is every link,
// every file whose name says it holds a login or a key, and every file in
// which the secret scanner finds one (an API key in a settings file's env,
// say): those are returned as skipped, with why, for the person to see.
func CopySetup(in Input, hostHome string, rels []string) (copied, skipped []string, err error) {
	if _, _, err := User(in.Agent, in.Host, in.Workdir); err != nil {
		return nil, nil, err
	}
	st, err := stateOf(in)
	if err != nil {
		return nil, nil, err
	}
	home := st.MustJoin(homeDir)
	src := beneath.At(hostHome)
	scanner := dlp.New(nil)
	total := 0
	for _, rel := range rels {
		if _, err := src.Lstat(rel); errors.Is(err, beneath.ErrLink) {
			continue // a link on the way in the person's home: not followed, not copied
		}
		err := src.Walk(rel, func(p string, fi fs.FileInfo) error {
			if fi.Mode()&fs.ModeSymlink != 0 || secretName(path.Base(p)) {
				if fi.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if fi.IsDir() {
				return home.MkdirAll(p, 0o700)
			}
			if !fi.Mode().IsRegular() {
				return nil
			}
			data, err := src.ReadFile(p)
			if err != nil {
				return err
			}
			if f := scanner.Scan(data, p); f != nil {
				skipped = append(skipped, fmt.Sprintf("~/%s (it holds a secret: %s)", p, f.Rule))
				return nil
			}
			if total += len(data); total > maxSetupBytes || len(copied) >= maxSetupFiles {
				return fmt.Errorf("more than %d files or %d MiB: name fewer paths in setup", maxSetupFiles, maxSetupBytes>>20)
			}
			if err := home.MkdirAll(path.Dir(p), 0o700); err != nil {
				return err
			}
			if err := home.WriteFile(p, data, 0o600); err != nil {
				return err
			}
			copied = append(copied, p)
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("copy ~/%s into the bottle: %w", rel, err)
		}
	}
	return copied, skipped, nil
}

// MergeHomeJSON lays a JSON object over the file at rel in the agent's
// home when that file holds one (objects merge member by member, the
// layer's winning); otherwise the layer is the file. A profile's settings
// for the bottle so join the person's own.
func MergeHomeJSON(existing, layer []byte) []byte {
	var a, b map[string]any
	if json.Unmarshal(existing, &a) != nil || json.Unmarshal(layer, &b) != nil {
		return layer
	}
	out, err := json.MarshalIndent(merge(a, b), "", "  ")
	if err != nil {
		return layer
	}
	return out
}

func merge(a, b map[string]any) map[string]any {
	for k, v := range b {
		if bv, ok := v.(map[string]any); ok {
			if av, ok := a[k].(map[string]any); ok {
				a[k] = merge(av, bv)
				continue
			}
		}
		a[k] = v
	}
	return a
}
