package agent

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bottle-sandbox/bottle/internal/files"
)

// CopyTree copies src into dst (which must not exist), keeping modes and
// symbolic links, so the agent works on a copy and the host tree is untouched.
func CopyTree(ctx context.Context, src, dst string) error { return files.CopyTree(ctx, src, dst) }

func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
