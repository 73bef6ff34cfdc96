package lifecycle

import (
	"errors"
	"io/fs"

	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/state"
)

// Traffic is a bottle's egress per host as its proxy's audit log tells
// it: requests allowed and refused, and the bytes of their bodies each
// way. The log is read through internal/beneath (the egress folder is one
// a container of the bottle writes); none yet is none.
func Traffic(b *state.Bottle) ([]egress.HostTraffic, error) {
	f, err := b.EgressFolder().Open(egress.AuditFile)
	if errors.Is(err, fs.ErrNotExist) {
		return []egress.HostTraffic{}, nil
	}
	if err != nil {
		return nil, errors.New("bottle " + b.ID + ": its egress audit: " + err.Error())
	}
	defer f.Close()
	t, err := egress.Traffic(f)
	if err != nil {
		return nil, errors.New("bottle " + b.ID + ": its egress audit: " + err.Error())
	}
	return t, nil
}
