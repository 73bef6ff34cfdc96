package pod

import (
	"context"

	"github.com/containers/podman/v5/pkg/bindings/system"
)

// ServiceVersion asks the service for its Podman version and the version of
// the API it serves (Podman's own, which the bindings speak; not the
// Docker-compatible one).
func (c *Conn) ServiceVersion(ctx context.Context) (version, api string, err error) {
	vctx, cancel := c.call(ctx)
	defer cancel()
	r, err := system.Version(vctx, nil)
	if err != nil {
		return "", "", c.errorf(err, "podman at %s: read its version", c.URI)
	}
	return r.Server.Version, r.Server.APIVersion, nil
}
