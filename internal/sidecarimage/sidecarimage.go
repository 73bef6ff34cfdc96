// Package sidecarimage writes the sidecar image: the sidecar binary, static,
// with the host's CA roots and, for an engine that needs them, a few more
// files; one layer, no base image, no registry. Both engines load it.
package sidecarimage

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/spec"
)

// caBundles are where hosts keep their CA roots, copied into the image so
// the sidecars can verify upstreams.
var caBundles = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"}

// Write writes a docker-archive (what `podman load` and `ctr images
// import` read) of a one-layer image: the binary, the CA roots, and the
// extra files (path in the image, file on the host), with their folders.
func Write(w io.Writer, exe, ref string, extra ...File) error {
	layer, diffID, err := writeLayer(exe, extra)
	if err != nil {
		return err
	}
	defer os.Remove(layer)
	cfg, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      time.Unix(0, 0).UTC(),
		"config": map[string]any{
			"Cmd":    []string{spec.SidecarBinary},
			"Env":    []string{"PATH=/", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
			"Labels": map[string]string{spec.LabelVersion: ref},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	if err != nil {
		return err
	}
	manifest, _ := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": []string{ref}, "Layers": []string{"layer.tar"}}})
	tw := tar.NewWriter(w)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add("config.json", cfg); err != nil {
		return err
	}
	if err := add("manifest.json", manifest); err != nil {
		return err
	}
	lf, err := os.Open(layer)
	if err != nil {
		return err
	}
	defer lf.Close()
	fi, _ := lf.Stat()
	if err := tw.WriteHeader(&tar.Header{Name: "layer.tar", Mode: 0o644, Size: fi.Size(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, lf); err != nil {
		return err
	}
	return tw.Close()
}

// File is one more file of the image: where it goes, and where it is on the
// host (Link, when set, makes it a symbolic link to that name instead).
type File struct {
	Path, Host, Link string
}

// writeLayer writes the layer tar to a temporary file and returns its path
// and diff ID (the sha256 of the uncompressed tar).
func writeLayer(exe string, extra []File) (string, string, error) {
	f, err := os.CreateTemp("", "bottle-sidecar-layer-*.tar")
	if err != nil {
		return "", "", fmt.Errorf("build the sidecar image: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(f, h))
	dirs := []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "tmp/", "run/"}
	for _, d := range dirs {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: mode, Typeflag: tar.TypeDir}); err != nil {
			return "", "", err
		}
	}
	files := [][2]string{{spec.SidecarBinary[1:], exe}}
	for _, b := range caBundles {
		if _, err := os.Stat(b); err == nil {
			files = append(files, [2]string{"etc/ssl/certs/ca-certificates.crt", b})
			break
		}
	}
	for _, nf := range files {
		if err := addFile(tw, nf[0], nf[1]); err != nil {
			os.Remove(f.Name())
			return "", "", fmt.Errorf("build the sidecar image: %w", err)
		}
	}
	made := map[string]bool{}
	for _, d := range dirs {
		made[d] = true
	}
	for _, x := range extra {
		if err := addExtra(tw, x, made); err != nil {
			os.Remove(f.Name())
			return "", "", fmt.Errorf("build the sidecar image: %s: %w", x.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", "", err
	}
	return f.Name(), "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func addFile(tw *tar.Writer, name, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	mode := int64(0o644)
	if fi.Mode()&0o111 != 0 {
		mode = 0o755
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: fi.Size(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// addExtra adds one more file, and the folders above it not made yet.
func addExtra(tw *tar.Writer, x File, made map[string]bool) error {
	name := strings.TrimPrefix(x.Path, "/")
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		d := strings.Join(parts[:i], "/") + "/"
		if !made[d] {
			if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
				return err
			}
			made[d] = true
		}
	}
	if x.Link != "" {
		return tw.WriteHeader(&tar.Header{Name: name, Linkname: x.Link, Mode: 0o777, Typeflag: tar.TypeSymlink})
	}
	return addFile(tw, name, x.Host)
}
