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

// InUse reports whether another process holds the bottle's lock. It makes
// no lock file: one made while another process removes the bottle's folder
// would fail that removal.
func (b *Bottle) InUse() bool {
	f, err := os.OpenFile(filepath.Join(b.Dir, LockFile), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close() // closing drops the flock
		l.f = nil
	}
}

// CreateFile is the state root's lock, held while Create makes a
// bottle's folder and while Sweep removes half-made ones.
const CreateFile = ".create.lock"

// BindsFile is the state root's lock, held while a bind start looks for a
// running bottle whose working directory overlaps its own.
const BindsFile = ".binds.lock"

// LockBinds takes the root's binds lock, waiting for another start to be
// done with it.
func (r Root) LockBinds() (*Lock, error) { return r.lockRoot(BindsFile) }

// lockRoot takes one of the root's own locks, waiting for it.
func (r Root) lockRoot(name string) (*Lock, error) {
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock the state root: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(r.Dir, name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the state root: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the state root: %w", err)
	}
	return &Lock{f: f}, nil
}

// PoolFile is the state root's lock, held while a keeper recycles and
// fills the warm bottles' pools.
const PoolFile = ".warm.lock"

// PoolLog is what the last keeper started in the background said.
const PoolLog = ".warm.log"

// LockPool takes the root's pool lock, waiting for another keeper to be
// done with it.
func (r Root) LockPool() (*Lock, error) { return r.lockRoot(PoolFile) }

// File is the lock's open file, for a process of bottle's own to inherit:
// a flock belongs to the open file, so the lock stays held for as long as
// either process keeps it open.
func (l *Lock) File() *os.File { return l.f }

// Adopt takes over the bottle's lock from f, a file this process inherited
// (Lock.File): it must be the bottle's lock file, and holding the lock on
// it fails at once if a process that does not share f holds it.
func (b *Bottle) Adopt(f *os.File) (*Lock, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("lock %s: the inherited lock: %w", b.ID, err)
	}
	own, err := os.Stat(filepath.Join(b.Dir, LockFile))
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", b.ID, err)
	}
	if !os.SameFile(fi, own) {
		return nil, fmt.Errorf("lock %s: the inherited file is not its lock", b.ID)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("bottle %s is in use by another bottle command", b.ID)
		}
		return nil, fmt.Errorf("lock %s: %w", b.ID, err)
	}
	return &Lock{f: f}, nil
}
