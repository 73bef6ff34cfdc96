package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/bottle-sandbox/bottle/internal/files"
)

// Moved is git metadata taken out of a workspace.
type Moved struct {
	Path string // relative to the workspace
	To   string // where it is now
}

// Quarantine moves out of a bind workspace the git metadata that was not
// there at the bottle's first start (a .git folder, file or link anywhere,
// the top one included when the workspace was no repository, or a folder
// shaped like a bare repository) into dst, keeping its relative path, so no
// git or editor of the person's ever reads it as configuration. It runs once
// the agent is stopped.
func Quarantine(r *Record, dst string) ([]Moved, error) {
	known := append([]string(nil), r.Nested...)
	if r.Git != GitNone {
		known = append(known, ".git")
	}
	found, err := findGitMetadata(r.Dir, known)
	if err != nil {
		return nil, fmt.Errorf("look for git metadata in %s: %w", r.Dir, err)
	}
	if r.Git == GitNone {
		if _, err := os.Lstat(filepath.Join(r.Dir, ".git")); err == nil {
			found = append([]string{".git"}, found...)
		}
	}
	var moved []Moved
	for _, rel := range found {
		to := filepath.Join(dst, rel)
		if err := moveAside(filepath.Join(r.Dir, rel), to); err != nil {
			return moved, fmt.Errorf("move %s out of the workspace: %w", rel, err)
		}
		moved = append(moved, Moved{Path: rel, To: to})
	}
	return moved, nil
}

// moveAside renames src to dst, or copies and removes it across file systems.
func moveAside(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s exists already", dst)
	}
	err := os.Rename(src, dst)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	if err := files.CopyTree(context.Background(), src, dst); err != nil {
		os.RemoveAll(dst)
		return err
	}
	return os.RemoveAll(src)
}
