package pod

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/bottle-sandbox/bottle/spec"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/images"
)

// caBundles are where hosts keep their CA roots, copied into the image so
// the sidecars can verify upstreams.
var caBundles = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"}

// EnsureSidecarImage makes the sidecar image from the bottle binary at exe
// (static, so it needs no base image) and the host's CA roots, and loads it
// through the API, unless it is there already. No registry, no Containerfile.
func (c *Conn) EnsureSidecarImage(ctx context.Context, exe string) (string, error) {
	ref, err := spec.SidecarRef(exe)
	if err != nil {
		return "", err
	}
	cctx, cancel := c.call(ctx)
	ok, err := images.Exists(cctx, ref, nil)
	cancel()
	if err != nil {
		return "", c.errorf(err, "look up image %s", ref)
	}
	if ok {
		return ref, nil
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeSidecarArchive(pw, exe, ref)) }()
	lctx, cancel := c.call(ctx)
	defer cancel()
	if _, err := images.Load(lctx, pr); err != nil {
		pr.CloseWithError(err)
		return "", c.errorf(err, "load the sidecar image %s", ref)
	}
	return ref, nil
}

// writeSidecarArchive writes a docker-archive (what `podman load` reads) of
// a one-layer image: the binary and the CA roots.
func writeSidecarArchive(w io.Writer, exe, ref string) error {
	layer, diffID, err := sidecarLayer(exe)
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

// sidecarLayer writes the layer tar to a temporary file and returns its path
// and diff ID (the sha256 of the uncompressed tar).
func sidecarLayer(exe string) (string, string, error) {
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
