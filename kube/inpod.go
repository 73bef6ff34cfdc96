package kube

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// What runs inside a bottle's pod for the engine, from the sidecar binary:
// the state keeper (a native sidecar holding the bottle's volume, through
// which its folders are copied in at start and back at the end), and the
// agent's wait for the engine's go-ahead once its terminal is attached.

// Seeded is the file, at the volume's root, that says the bottle's folders
// are on it: the state keeper's startup probe waits for it, and so does
// every container after.
const Seeded = ".bottle-seeded"

// Keep makes the volume the pod's group's, then holds on until ctx ends:
// the state keeper's whole job between the copies the engine makes
// through it.
func Keep(ctx context.Context, volume string) error {
	if volume != "" {
		if err := os.Chown(volume, int(AgentUID), int(AgentUID)); err != nil {
			return fmt.Errorf("state: %w", err)
		}
		if err := os.Chmod(volume, 0o770|fs.ModeSetgid); err != nil {
			return fmt.Errorf("state: %w", err)
		}
	}
	<-ctx.Done()
	return nil
}

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

// AwaitThenExec waits until file exists, then becomes argv: the agent's
// command starts only once the engine has attached its terminal, so no
// output is lost before anyone reads it.
func AwaitThenExec(ctx context.Context, file string, argv []string) error {
	if len(argv) == 0 {
		return errors.New("await: no command")
	}
	for {
		if _, err := os.Stat(file); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	path := argv[0]
	if !strings.Contains(path, "/") {
		p, err := exec.LookPath(path)
		if err != nil {
			return fmt.Errorf("the agent's command %s: %w", path, err)
		}
		path = p
	}
	return syscall.Exec(path, argv, os.Environ())
}

// Touch makes file (the go-ahead, or the volume's seeded mark).
func Touch(file string) error {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY, 0o660)
	if err != nil {
		return err
	}
	return f.Close()
}

// ProveIsolation tries each target from where it runs (the agent's
// container, as the agent's user): TCP host:port, or udp://host:port for a
// DNS server; it fails if any answers. A bottle's pod must not let the
// agent reach the cluster's API or its DNS on its own.
func ProveIsolation(ctx context.Context, targets []string, wait time.Duration) error {
	errs := make(chan error, len(targets))
	for _, t := range targets {
		go func() { errs <- tryReach(ctx, t, wait) }()
	}
	var first error
	for range targets {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func tryReach(ctx context.Context, target string, wait time.Duration) error {
	d := net.Dialer{Timeout: wait}
	if addr, ok := strings.CutPrefix(target, "udp://"); ok {
		c, err := d.DialContext(ctx, "udp", addr)
		if err != nil {
			return nil
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(wait))
		// A query for "." NS: any answer means the server is reachable.
		c.Write([]byte{0x13, 0x37, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1})
		buf := make([]byte, 512)
		if n, err := c.Read(buf); err == nil && n > 0 {
			return fmt.Errorf("the agent's container reached the DNS server %s", addr)
		}
		return nil
	}
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("the agent's container reached %s", target)
}
