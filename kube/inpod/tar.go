package inpod

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// Untar writes a tar stream into dir: folders and regular files only,
// nothing outside dir and, when only names any, nothing outside those
// folders of it; no link in dir is followed (a link where a file comes is
// replaced). Each is readable and writable by the pod's group (every
// container of the bottle runs in it) and, when owner >= 0, owned by that
// user and group. On the host, dir is a bottle's folder, below which the
// folders containers write are hostile ground: internal/beneath.
func Untar(dir beneath.Dir, r io.Reader, owner int, only ...string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.ToSlash(filepath.Clean(h.Name))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("untar: %q leaves the folder", h.Name)
		}
		if len(only) > 0 && !slices.ContainsFunc(only, func(o string) bool { return name == o || strings.HasPrefix(name, o+"/") }) {
			return fmt.Errorf("untar: %q is not below %s", h.Name, strings.Join(only, ", "))
		}
		own := func(name string) {
			if owner >= 0 {
				dir.Chown(name, owner, owner) // as far as the keeper may
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := dir.MkdirAll(name, fs.FileMode(h.Mode)|0o770); err != nil {
				return err
			}
			if err := dir.Chmod(name, fs.FileMode(h.Mode)&0o777|0o770|fs.ModeSetgid); err != nil {
				return err
			}
			own(name)
		case tar.TypeReg:
			if d := path.Dir(name); d != "." {
				if err := dir.MkdirAll(d, 0o770); err != nil {
					return err
				}
			}
			if err := dir.WriteFrom(name, tr, fs.FileMode(h.Mode)&0o777|0o660); err != nil {
				return err
			}
			own(name)
		}
	}
}

// TarFolders writes the named folders below root (and the files in them) as
// one tar stream, with root-relative names, leaving out the files in skip
// (host paths: credentials a Secret carries instead).
func TarFolders(root string, folders []string, skip map[string]bool, w io.Writer) error {
	trees := make([]Tree, len(folders))
	for i, f := range folders {
		trees[i] = Tree{Src: filepath.Join(root, f), Name: f}
	}
	return TarTrees(trees, skip, w)
}

// A Tree is a host folder and the name it has in a tar stream.
type Tree struct{ Src, Name string }

// TarTrees writes each tree's folders and files as one tar stream, under
// the tree's name, leaving out the files in skip; a tree that does not
// exist is left out. Links are left out, never followed: a tree may be a
// folder a container writes.
func TarTrees(trees []Tree, skip map[string]bool, w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, t := range trees {
		src := beneath.At(filepath.Dir(t.Src)).MustJoin(filepath.Base(t.Src))
		err := src.Walk(".", func(p string, fi fs.FileInfo) error {
			if skip[filepath.Join(t.Src, p)] {
				return nil
			}
			name := path.Join(filepath.ToSlash(t.Name), p)
			switch {
			case fi.IsDir():
				return tw.WriteHeader(&tar.Header{Name: name + "/", Mode: int64(fi.Mode().Perm()), Typeflag: tar.TypeDir})
			case fi.Mode().IsRegular():
				f, err := src.Open(p)
				if err != nil {
					return err
				}
				defer f.Close()
				st, err := f.Stat()
				if err != nil {
					return err
				}
				if err := tw.WriteHeader(&tar.Header{Name: name, Mode: int64(st.Mode().Perm()), Size: st.Size(), Typeflag: tar.TypeReg}); err != nil {
					return err
				}
				_, err = io.CopyN(tw, f, st.Size())
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return tw.Close()
}
