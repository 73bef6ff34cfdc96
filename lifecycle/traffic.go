package lifecycle

import (
	"errors"
	"io"
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

// TrafficSince brings t (nil: a new one) up to date with the bottle's
// egress audit log, reading only what was appended since t was last
// brought up to date, and returns it: for a reader that shows the sums
// again and again. A log shorter than t has counted (made anew) is counted
// from its start.
func TrafficSince(b *state.Bottle, t *egress.Tally) (*egress.Tally, error) {
	if t == nil {
		t = &egress.Tally{}
	}
	f, err := b.EgressFolder().Open(egress.AuditFile)
	if errors.Is(err, fs.ErrNotExist) {
		return &egress.Tally{}, nil
	}
	if err != nil {
		return t, errors.New("bottle " + b.ID + ": its egress audit: " + err.Error())
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < t.Offset() {
		t = &egress.Tally{}
	}
	if _, err := f.Seek(t.Offset(), io.SeekStart); err != nil {
		return t, errors.New("bottle " + b.ID + ": its egress audit: " + err.Error())
	}
	if err := t.Add(f); err != nil {
		return t, errors.New("bottle " + b.ID + ": its egress audit: " + err.Error())
	}
	return t, nil
}
