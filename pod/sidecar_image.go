package pod

import (
	"context"
	"io"

	"github.com/bottle-sandbox/bottle/internal/sidecarimage"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/containers/podman/v5/pkg/bindings/images"
)

// ensureSidecarImage makes the sidecar image from the sidecar binary at exe
// (static, so it needs no base image) and the host's CA roots, and loads it
// through the API, unless it is there already. No registry, no Containerfile.
func (c *Conn) ensureSidecarImage(ctx context.Context, exe string) (string, error) {
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
	// Many bottles started at once of a new binary would each make and load
	// the same image (twenty took half a minute): one does, the others wait
	// for it and find it there.
	unlock, err := hostLock("sidecar-image")
	if err != nil {
		return "", err
	}
	defer unlock()
	cctx, cancel = c.call(ctx)
	ok, err = images.Exists(cctx, ref, nil)
	cancel()
	if err != nil {
		return "", c.errorf(err, "look up image %s", ref)
	}
	if ok {
		return ref, nil
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(sidecarimage.Write(pw, exe, ref)) }()
	lctx, cancel := c.call(ctx)
	defer cancel()
	if _, err := images.Load(lctx, pr); err != nil {
		pr.CloseWithError(err)
		return "", c.errorf(err, "load the sidecar image %s", ref)
	}
	return ref, nil
}
