package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/dlp"
	"github.com/bottle-sandbox/bottle/internal/files"
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
	uid, gid, err := User(in.Agent, in.Host, in.Workdir)
	if err != nil {
		return nil, nil, err
	}
	home := HomeDir(in.StateDir)
	root, err := os.OpenRoot(hostHome)
	if err != nil {
		return nil, nil, fmt.Errorf("your home %s: %w", hostHome, err)
	}
	defer root.Close()
	scanner := dlp.New(nil)
	total := 0
	for _, rel := range rels {
		fi, err := root.Lstat(rel)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("~/%s: %w", rel, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			continue
		}
		err = fs.WalkDir(root.FS(), rel, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type()&fs.ModeSymlink != 0 || secretName(d.Name()) {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			dst := filepath.Join(home, p)
			if d.IsDir() {
				return mkdirOwned(home, dst, uid, gid)
			}
			if !d.Type().IsRegular() {
				return nil
			}
			data, err := root.ReadFile(p)
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
			if err := mkdirOwned(home, filepath.Dir(dst), uid, gid); err != nil {
				return err
			}
			if err := files.WriteAtomic(dst, data, 0o600); err != nil {
				return err
			}
			copied = append(copied, p)
			return chownIfRoot(dst, uid, gid)
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

// mkdirOwned makes dir and the folders between home and it, each owned by
// the agent's user.
func mkdirOwned(home, dir string, uid, gid int) error {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	rel, err := filepath.Rel(home, dir)
	if err != nil || rel == "." {
		return err
	}
	at := home
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		at = filepath.Join(at, part)
		if err := os.Mkdir(at, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := chownIfRoot(at, uid, gid); err != nil {
			return err
		}
	}
	return nil
}
