// Package inside reads files that a working directory's bottle.toml named
// through the working directory itself (os.Root): a link swapped in after
// the file was checked cannot lead out of it.
package inside

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/files"
)

// rel is path relative to dir, or an error if it is not inside it.
func rel(dir, path string) (string, error) {
	r, err := filepath.Rel(dir, path)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) || filepath.IsAbs(r) {
		return "", fmt.Errorf("%s is outside the working directory %s", path, dir)
	}
	return r, nil
}

// ReadFile reads path, which must be inside dir.
func ReadFile(dir, path string) ([]byte, error) {
	r, err := rel(dir, path)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.ReadFile(r)
}

// CopyTree copies the folder src, which must be inside dir, to dst (which
// must not exist): folders, regular files, and links as links (never
// followed), so what is copied is what dir holds.
func CopyTree(dir, src, dst string) error {
	r, err := rel(dir, src)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	sub, err := root.OpenRoot(r)
	if err != nil {
		return err
	}
	defer sub.Close()
	return fs.WalkDir(sub.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dst, filepath.FromSlash(p))
		switch {
		case d.IsDir():
			return os.Mkdir(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := sub.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			in, err := sub.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			info, err := in.Stat()
			if err != nil {
				return err
			}
			return files.Write(in, target, info.Mode().Perm()|0o600)
		}
		return nil // sockets, devices, pipes: no part of a build context
	})
}
