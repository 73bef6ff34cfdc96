package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containers/image/v5/docker/reference"
)

// Images are named by what they are made of, whatever engine makes them.

// SidecarRepo is the repository of the sidecar image; its tag is a hash of
// the binary it holds (the sidecar binary), so an upgraded bottle builds it
// once and an unchanged one never.
const SidecarRepo = "localhost/bottle-sidecar"

// SidecarRef returns the sidecar image's reference for the binary at exe.
// Hashing the binary takes tens of milliseconds (a CPU-second for twenty
// bottles started at once), so the answer is kept in the user's cache, a
// file for each binary, keyed by the file's identity, size and time: one
// file for all let two bottle binaries in use at once (an upgrade, a
// test run) each take the other's place, and hash on every start.
func SidecarRef(exe string) (string, error) {
	fi, err := os.Stat(exe)
	if err != nil {
		return "", fmt.Errorf("hash the sidecar binary: %w", err)
	}
	key := fmt.Sprintf("%s %d %d %d", exe, fi.Size(), fi.ModTime().UnixNano(), inode(fi))
	cache := ""
	if dir, err := os.UserCacheDir(); err == nil {
		sum := sha256.Sum256([]byte(key))
		cache = filepath.Join(dir, "bottle", "sidecar-ref-"+hex.EncodeToString(sum[:])[:16])
		if b, err := os.ReadFile(cache); err == nil {
			if k, ref, ok := strings.Cut(strings.TrimSpace(string(b)), "\n"); ok && k == key {
				return ref, nil
			}
		}
	}
	ref, err := hashRef(exe)
	if err != nil {
		return "", err
	}
	if cache != "" && os.MkdirAll(filepath.Dir(cache), 0o700) == nil {
		tmp := fmt.Sprintf("%s.%d", cache, os.Getpid())
		if os.WriteFile(tmp, []byte(key+"\n"+ref+"\n"), 0o600) == nil {
			os.Rename(tmp, cache) // best effort: a miss only costs the hash
		}
		forgetOldRefs(filepath.Dir(cache))
	}
	return ref, nil
}

// forgetOldRefs removes the cached answers written over a month ago (each
// rebuild of bottle leaves one; one still in use is hashed again, once).
func forgetOldRefs(dir string) {
	old, _ := filepath.Glob(filepath.Join(dir, "sidecar-ref*"))
	for _, p := range old {
		if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > 30*24*time.Hour {
			os.Remove(p)
		}
	}
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

func hashRef(exe string) (string, error) {
	f, err := os.Open(exe)
	if err != nil {
		return "", fmt.Errorf("hash the sidecar binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash the sidecar binary: %w", err)
	}
	return SidecarRepo + ":" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// BuildRef names the image built from a Containerfile and its context by a
// hash of both, so an unchanged profile is never rebuilt.
func BuildRef(name, containerfile, contextDir string) (string, error) {
	h := sha256.New()
	cf, err := os.ReadFile(containerfile)
	if err != nil {
		return "", fmt.Errorf("read Containerfile: %w", err)
	}
	fmt.Fprintf(h, "containerfile %d\n", len(cf))
	h.Write(cf)
	var files []string
	err = filepath.WalkDir(contextDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash build context %s: %w", contextDir, err)
	}
	sort.Strings(files)
	for _, p := range files {
		if err := hashEntry(h, contextDir, p); err != nil {
			return "", fmt.Errorf("hash build context %s: %w", contextDir, err)
		}
	}
	repo := "localhost/bottle-" + sanitize(name)
	if _, err := reference.ParseNormalizedNamed(repo); err != nil {
		return "", fmt.Errorf("image name for profile %q: %w", name, err)
	}
	return repo + ":" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

func hashEntry(h io.Writer, root, p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	rel, _ := filepath.Rel(root, p)
	fmt.Fprintf(h, "%s %o\n", rel, fi.Mode())
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "-> %s\n", target)
	case fi.Mode().IsRegular():
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%d\n", fi.Size())
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
	}
	return nil
}

// sanitize makes a profile name usable as an image repository name.
func sanitize(s string) string {
	b := []byte{}
	for _, r := range []byte(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b = append(b, r)
		case r >= 'A' && r <= 'Z':
			b = append(b, r+'a'-'A')
		default:
			b = append(b, '-')
		}
	}
	return string(b)
}
