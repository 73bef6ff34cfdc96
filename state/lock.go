package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is held by the process that runs a bottle, for as long as it runs,
// so `bottle gc` never reaps the state of a bottle that is still starting.
const LockFile = ".lock"

// Lock is a held lock on a bottle's folder.
type Lock struct{ f *os.File }

// Lock takes the bottle's lock, failing at once if another process holds it.
func (b *Bottle) Lock() (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(b.Dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", b.ID, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("bottle %s is in use by another bottle command", b.ID)
		}
		return nil, fmt.Errorf("lock %s: %w", b.ID, err)
	}
	return &Lock{f: f}, nil
}

// InUse reports whether another process holds the bottle's lock.
func (b *Bottle) InUse() bool {
	l, err := b.Lock()
	if err != nil {
		return true
	}
	l.Unlock()
	return false
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close() // closing drops the flock
		l.f = nil
	}
}
