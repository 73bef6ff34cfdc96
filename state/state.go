// Package state keeps what a bottle is on disk: one folder per identity under
// $XDG_STATE_HOME/bottle, holding metadata.json and one subfolder per service.
package state

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/files"
	"golang.org/x/sys/unix"
)

// The files of a bottle's own folder, which no container mounts.
const (
	MetadataFile = "metadata.json"
	PreserveFile = "preserve"
	// WorkspaceFile records the working directory as the bottle's first
	// start found it (its git metadata, remotes): what the host trusts later.
	WorkspaceFile = "workspace.json"
	// WorkdirConfigFile records the working directory's bottle.toml as the
	// bottle's first start read it: what a resume applies.
	WorkdirConfigFile = "workdir-config.json"
	// BindFile names the working directory a bind start mounts, written
	// under the root's binds lock as soon as the start found itself alone
	// there, before its metadata: another start's check sees it from then.
	BindFile = "bind"
	// QuarantineDir holds git metadata the agent made in a bind workspace,
	// moved out of it when a session ends.
	QuarantineDir = "quarantine"
	ApprovalsFile = "approvals.jsonl"
	// ApprovedRoutesFile holds the egress routes a person approved on the
	// agent's requests, one JSON line each, exactly as approved: a resume
	// brings them back.
	ApprovedRoutesFile = "approved-routes.jsonl"
	// WorkspaceChangesFile says which git metadata the first start recorded
	// changed since: a resume waits for the person to have seen it.
	WorkspaceChangesFile = "workspace-changes"
	// WarmFile marks a warm bottle, made ahead for bottle start to claim
	// (its profile, what it was made of, its plan); a claim removes it first.
	WarmFile = "warm.json"
	// TeardownFile says a session's teardown is under way in a process of
	// its own (its process id): the next bottle command, or bottle gc,
	// finishes one that process did not.
	TeardownFile = "teardown.json"
)

// Metadata records what a bottle was launched with, so resume can relaunch it.
type Metadata struct {
	Identity    string    `json:"identity"`
	Agent       string    `json:"agent"`
	Workdir     string    `json:"workdir"`
	Workspace   string    `json:"workspace"`
	Runtime     string    `json:"runtime"`
	Image       string    `json:"image"`
	ImageDigest string    `json:"image_digest,omitempty"`
	Version     string    `json:"bottle_version"`
	StartedAt   time.Time `json:"started_at"`
	// Args are the agent arguments given after -- at start, kept for resume.
	Args []string `json:"args,omitempty"`
	// AutoResume: the dashboard resumes this bottle after an approved image change.
	AutoResume bool `json:"auto_resume,omitempty"`
	// Engine is where the bottle runs ("": podman); Context and Namespace
	// say which cluster, for a kubernetes one.
	Engine    string `json:"engine,omitempty"`
	Context   string `json:"kube_context,omitempty"`
	Namespace string `json:"kube_namespace,omitempty"`
	// BuildFrom are the images an isolated build of this bottle may start
	// FROM, as its last start found them: an agent's request is checked
	// against them when it is approved (its next start checks it again).
	BuildFrom []string `json:"build_from,omitempty"`
}

// Root is the folder that holds every bottle's state.
type Root struct{ Dir string }

// DefaultRoot is $XDG_STATE_HOME/bottle, or ~/.local/state/bottle.
func DefaultRoot() (Root, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return Root{}, fmt.Errorf("find the state folder: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return Root{Dir: filepath.Join(dir, "bottle")}, nil
}

// Bottle is one bottle's state folder.
type Bottle struct {
	ID  string
	Dir string
}

// NotFoundError is returned for an identity with no state folder.
type NotFoundError struct {
	ID    string
	Known []string
}

func (e *NotFoundError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("no bottle %q (there are none)", e.ID)
	}
	return fmt.Sprintf("no bottle %q (known: %s)", e.ID, strings.Join(e.Known, ", "))
}

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*-[0-9a-z]{5}$`)

// ValidID reports whether s has the shape of an identity, so user input
// never names a path outside the root.
func ValidID(s string) bool { return validID.MatchString(s) }

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// NewIdentity mints "<agent>-<5 random base36 characters>".
func NewIdentity(agent string) (string, error) {
	b := make([]byte, 5)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(idAlphabet))))
		if err != nil {
			return "", fmt.Errorf("mint identity: %w", err)
		}
		b[i] = idAlphabet[n.Int64()]
	}
	return agent + "-" + string(b), nil
}

// Create mints a fresh identity and claims its folder, locked. The folder
// is made under a temporary name (MakingPrefix: no bottle's name, so
// neither ls nor gc sees it), its lock taken there, then renamed into
// place, never over another: gc, which removes a folder no command holds,
// never finds it unlocked. The root's create lock is held throughout, so
// Sweep takes a temporary folder only when its maker is gone.
func (r Root) Create(agent string) (*Bottle, *Lock, error) {
	rl, err := r.lockRoot(CreateFile)
	if err != nil {
		return nil, nil, err
	}
	defer rl.Unlock()
	tmp, err := os.MkdirTemp(r.Dir, MakingPrefix)
	if err != nil {
		return nil, nil, fmt.Errorf("create state: %w", err)
	}
	b := &Bottle{ID: filepath.Base(tmp), Dir: tmp}
	lock, err := b.Lock()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, nil, err
	}
	if testHookMade != nil {
		testHookMade(tmp)
	}
	for range 10 {
		id, err := NewIdentity(agent)
		if err != nil {
			break
		}
		if !ValidID(id) {
			lock.Unlock()
			os.RemoveAll(tmp)
			return nil, nil, fmt.Errorf("create state: %q cannot name a bottle (letters, digits, and . _ - after the first)", agent)
		}
		dir := filepath.Join(r.Dir, id)
		err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			lock.Unlock()
			os.RemoveAll(tmp)
			return nil, nil, fmt.Errorf("create state for %s: %w", id, err)
		}
		return &Bottle{ID: id, Dir: dir}, lock, nil
	}
	lock.Unlock()
	os.RemoveAll(tmp)
	return nil, nil, fmt.Errorf("create state: no free identity for %q after 10 tries", agent)
}

// testHookMade, when set, runs in Create once the folder is made and
// locked under its temporary name, before it is renamed into place.
var testHookMade func(tmp string)

// Open returns an existing bottle's folder.
func (r Root) Open(id string) (*Bottle, error) {
	dir := filepath.Join(r.Dir, id)
	if !ValidID(id) {
		return nil, r.notFound(id)
	}
	if _, err := os.Stat(filepath.Join(dir, MetadataFile)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, r.notFound(id)
		}
		return nil, fmt.Errorf("open bottle %s: %w", id, err)
	}
	return &Bottle{ID: id, Dir: dir}, nil
}

func (r Root) notFound(id string) error {
	e := &NotFoundError{ID: id}
	if bs, err := r.List(); err == nil {
		for _, b := range bs {
			e.Known = append(e.Known, b.ID)
		}
	}
	return e
}

// List returns every bottle folder that has metadata, by identity.
func (r Root) List() ([]*Bottle, error) { return r.scan(true) }

// Unfinished lists the folders a start claimed and never described (it died
// before writing metadata.json); Remove them once nothing holds them.
func (r Root) Unfinished() ([]*Bottle, error) { return r.scan(false) }

// scan lists the identity folders with metadata.json, or those without.
func (r Root) scan(described bool) ([]*Bottle, error) {
	entries, err := os.ReadDir(r.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list state: %w", err)
	}
	var out []*Bottle
	for _, e := range entries {
		if !e.IsDir() || !ValidID(e.Name()) {
			continue
		}
		dir := filepath.Join(r.Dir, e.Name())
		_, err := os.Stat(filepath.Join(dir, MetadataFile))
		if (err == nil) == described {
			out = append(out, &Bottle{ID: e.Name(), Dir: dir})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Bottle is the folder of identity under r, whether or not it exists yet.
func (r Root) Bottle(id string) *Bottle { return &Bottle{ID: id, Dir: filepath.Join(r.Dir, id)} }

// A bottle's folders, one per service (each service's package names what
// it keeps in its own), and the files of the bottle itself. Nothing else
// joins paths into a bottle's folder.
func (b *Bottle) AgentDir() string     { return filepath.Join(b.Dir, "agent") }
func (b *Bottle) EgressDir() string    { return filepath.Join(b.Dir, "egress") }
func (b *Bottle) GatewayDir() string   { return filepath.Join(b.Dir, "gateway") }
func (b *Bottle) GitGateDir() string   { return filepath.Join(b.Dir, "git-gate") }
func (b *Bottle) SuperviseDir() string { return filepath.Join(b.Dir, "supervise") }

// The folders a container of the bottle writes (each mounted read-write
// into one), as the host must use them: through internal/beneath, which
// follows no link a container left there.
func (b *Bottle) EgressFolder() beneath.Dir    { return beneath.At(b.Dir).MustJoin("egress") }
func (b *Bottle) GitGateFolder() beneath.Dir   { return beneath.At(b.Dir).MustJoin("git-gate") }
func (b *Bottle) SuperviseFolder() beneath.Dir { return beneath.At(b.Dir).MustJoin("supervise") }

// QuarantineDir holds git metadata the agent made in a bind workspace.
func (b *Bottle) QuarantineDir() string { return filepath.Join(b.Dir, QuarantineDir) }

// Quarantine is QuarantineDir, to move hostile entries into (below the
// bottle's own folder, which no container mounts).
func (b *Bottle) Quarantine() beneath.Dir { return beneath.At(b.Dir).MustJoin(QuarantineDir) }

// ApprovalsLog is every decision on the bottle's requests, appended, where
// no sidecar reaches.
func (b *Bottle) ApprovalsLog() string { return filepath.Join(b.Dir, ApprovalsFile) }

// WriteMetadata stores m atomically.
func (b *Bottle) WriteMetadata(m Metadata) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode metadata for %s: %w", b.ID, err)
	}
	return files.WriteAtomic(filepath.Join(b.Dir, MetadataFile), append(data, '\n'), 0o600)
}

// Metadata reads metadata.json.
func (b *Bottle) Metadata() (Metadata, error) {
	var m Metadata
	data, err := os.ReadFile(filepath.Join(b.Dir, MetadataFile))
	if err != nil {
		return m, fmt.Errorf("read metadata of %s: %w", b.ID, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("read metadata of %s: %s: %w", b.ID, filepath.Join(b.Dir, MetadataFile), err)
	}
	return m, nil
}

// WriteRecord stores one of the bottle's own records (WorkspaceFile, ...) atomically.
func (b *Bottle) WriteRecord(name string, data []byte) error {
	return files.WriteAtomic(filepath.Join(b.Dir, name), data, 0o600)
}

// Record reads one of the bottle's own records; a missing one is fs.ErrNotExist.
func (b *Bottle) Record(name string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(b.Dir, name))
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", name, b.ID, err)
	}
	return data, nil
}

// AppendRecord appends one line to one of the bottle's own records (made
// when missing): lines are appended whole, so two writers lose neither's.
func (b *Bottle) AppendRecord(name string, line []byte) error {
	f, err := os.OpenFile(filepath.Join(b.Dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("write %s of %s: %w", name, b.ID, err)
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s of %s: %w", name, b.ID, err)
	}
	return nil
}

// KeptQuarantine is where a removed bottle's quarantine is kept: below the
// state root, where no identity's folder is.
const KeptQuarantine = "quarantine"

// KeepQuarantine moves b's quarantine out of its folder, before the folder
// goes, to the root's quarantine folder (named by its identity, and a
// number when that is taken), and says where.
func (r Root) KeepQuarantine(b *Bottle) (string, error) {
	dir := filepath.Join(r.Dir, KeptQuarantine)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("keep the quarantine of %s: %w", b.ID, err)
	}
	to := filepath.Join(dir, b.ID)
	for i := 1; ; i++ {
		err := os.Rename(b.QuarantineDir(), to)
		if err == nil {
			return to, nil
		}
		if !errors.Is(err, fs.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) || i > 100 {
			return "", fmt.Errorf("keep the quarantine of %s: %w", b.ID, err)
		}
		to = filepath.Join(dir, fmt.Sprintf("%s.%d", b.ID, i))
	}
}

// RemoveRecord removes one of the bottle's own records; a missing one is fine.
func (b *Bottle) RemoveRecord(name string) error {
	if err := os.Remove(filepath.Join(b.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s of %s: %w", name, b.ID, err)
	}
	return nil
}

// Preserve marks the bottle to be kept at session end.
func (b *Bottle) Preserve(reason string) error {
	return files.WriteAtomic(filepath.Join(b.Dir, PreserveFile), []byte(reason+"\n"), 0o600)
}

// PreserveReason is why the bottle is kept, or "" if it is not.
func (b *Bottle) PreserveReason() string {
	data, err := os.ReadFile(filepath.Join(b.Dir, PreserveFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// Preserved reports whether the bottle is marked to be kept.
func (b *Bottle) Preserved() bool {
	_, err := os.Stat(filepath.Join(b.Dir, PreserveFile))
	return err == nil
}

// GonePrefix names a bottle's folder being removed: out of the root's
// listing (not a bottle's name) from the first moment of its removal, so
// that nothing (ls, gc, a command waiting for a teardown) ever sees half
// of one.
const GonePrefix = ".gone-"

// Remove deletes the bottle's state folder: renamed out of the listing,
// then removed whole. One a crash left half removed goes with the next
// removal of the same bottle, or with Sweep.
func (b *Bottle) Remove() error {
	gone := filepath.Join(filepath.Dir(b.Dir), GonePrefix+b.ID)
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("remove state of %s: %w", b.ID, err)
	}
	dir := b.Dir
	if err := os.Rename(b.Dir, gone); err == nil {
		dir = gone
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove state of %s: %w", b.ID, err)
	}
	return nil
}

// MakingPrefix names a bottle's folder that Create is making, before it
// has its name.
const MakingPrefix = ".making-"

// Sweep removes what removals a crash stopped left of bottles' folders,
// and the folders a Create that died left half-made (under the create
// lock: none is being made meanwhile).
func (r Root) Sweep() error {
	if _, err := os.Stat(r.Dir); err != nil {
		return nil
	}
	rl, err := r.lockRoot(CreateFile)
	if err != nil {
		return err
	}
	defer rl.Unlock()
	entries, err := os.ReadDir(r.Dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if id, ok := strings.CutPrefix(e.Name(), GonePrefix); ok && ValidID(id) {
			if err := os.RemoveAll(filepath.Join(r.Dir, e.Name())); err != nil {
				return fmt.Errorf("remove what was left of %s's state: %w", id, err)
			}
		}
		if strings.HasPrefix(e.Name(), MakingPrefix) && e.IsDir() {
			if err := os.RemoveAll(filepath.Join(r.Dir, e.Name())); err != nil {
				return fmt.Errorf("remove a half-made bottle's folder %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}
