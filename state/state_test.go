package state

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestIdentityShape(t *testing.T) {
	for range 200 {
		id, err := NewIdentity("claude")
		if err != nil {
			t.Fatal(err)
		}
		if !ValidID(id) || !strings.HasPrefix(id, "claude-") || len(id) != len("claude-")+5 {
			t.Fatalf("identity %q has the wrong shape", id)
		}
	}
	for _, bad := range []string{"", "../etc", "claude", "claude-ABCDE", "claude-abcd", "x/y-abcde", "-abcde"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestConcurrentCreateNeverCollides(t *testing.T) {
	r := Root{Dir: t.TempDir()}
	const n = 100
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := unlocked(r.Create("shell"))
			if err != nil {
				t.Error(err)
				return
			}
			ids <- b.ID
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("identity %s handed out twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("%d identities, want %d", len(seen), n)
	}
}

func TestMetadataRoundTripAndList(t *testing.T) {
	r := Root{Dir: t.TempDir()}
	b, err := unlocked(r.Create("shell"))
	if err != nil {
		t.Fatal(err)
	}
	m := Metadata{Identity: b.ID, Agent: "shell", Workdir: "/w", Workspace: "bind", Runtime: "runc",
		Image: "localhost/x:1", Version: "test", StartedAt: time.Unix(1700000000, 0).UTC(), Args: []string{"-c", "true"}}
	if err := b.WriteMetadata(m); err != nil {
		t.Fatal(err)
	}
	got, err := b.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity != m.Identity || got.Workdir != m.Workdir || !got.StartedAt.Equal(m.StartedAt) || len(got.Args) != 2 {
		t.Errorf("metadata round trip: got %+v, want %+v", got, m)
	}
	fi, _ := os.Stat(filepath.Join(b.Dir, MetadataFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("metadata mode %v, want 0600", fi.Mode().Perm())
	}
	leftovers, _ := filepath.Glob(filepath.Join(b.Dir, ".*tmp*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
	// A folder without metadata (a start that died before writing it) is not listed.
	if _, err := unlocked(r.Create("shell")); err != nil {
		t.Fatal(err)
	}
	list, err := r.List()
	if err != nil || len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("List = %v, %v; want just %s", list, err, b.ID)
	}
	o, err := r.Open(b.ID)
	if err != nil || o.Dir != b.Dir {
		t.Errorf("Open(%s) = %v, %v", b.ID, o, err)
	}
}

func TestOpenUnknownListsKnown(t *testing.T) {
	r := Root{Dir: t.TempDir()}
	b, _ := unlocked(r.Create("shell"))
	b.WriteMetadata(Metadata{Identity: b.ID})
	for _, id := range []string{"shell-zzzzz", "../../etc"} {
		_, err := r.Open(id)
		var nf *NotFoundError
		if !errors.As(err, &nf) {
			t.Fatalf("Open(%q) = %v, want NotFoundError", id, err)
		}
		if !strings.Contains(err.Error(), b.ID) || !strings.Contains(err.Error(), id) {
			t.Errorf("error %q should name %s and list %s", err, id, b.ID)
		}
	}
}

func TestPreserveAndRemove(t *testing.T) {
	r := Root{Dir: t.TempDir()}
	b, _ := unlocked(r.Create("shell"))
	if b.Preserved() {
		t.Fatal("new bottle is preserved")
	}
	if err := b.Preserve("--keep"); err != nil {
		t.Fatal(err)
	}
	if !b.Preserved() {
		t.Fatal("Preserve did not mark the bottle")
	}
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state folder still there: %v", err)
	}
}

func TestLockIsExclusive(t *testing.T) {
	r := Root{Dir: t.TempDir()}
	b, _ := unlocked(r.Create("shell"))
	l, err := b.Lock()
	if err != nil {
		t.Fatal(err)
	}
	other := &Bottle{ID: b.ID, Dir: b.Dir}
	if !other.InUse() {
		t.Error("InUse = false while locked")
	}
	if _, err := other.Lock(); err == nil || !strings.Contains(err.Error(), b.ID) {
		t.Errorf("second Lock = %v, want an error naming %s", err, b.ID)
	}
	l.Unlock()
	if other.InUse() {
		t.Error("InUse = true after Unlock")
	}
}

func TestUnfinished(t *testing.T) {
	r := Root{Dir: t.TempDir()}
	done, _ := unlocked(r.Create("shell"))
	done.WriteMetadata(Metadata{Identity: done.ID})
	half, _ := unlocked(r.Create("shell"))
	u, err := r.Unfinished()
	if err != nil || len(u) != 1 || u[0].ID != half.ID {
		t.Fatalf("Unfinished = %v, %v; want just %s", u, err, half.ID)
	}
	if l, _ := half.Lock(); l == nil || !(&Bottle{ID: half.ID, Dir: half.Dir}).InUse() {
		t.Error("a starting bottle should be in use")
	}
}

func TestCreateRefusesANameThatIsAPath(t *testing.T) {
	r := Root{Dir: filepath.Join(t.TempDir(), "bottle")}
	for _, bad := range []string{"../x", "/abs", "a/b", ".hidden", ""} {
		if b, err := unlocked(r.Create(bad)); err == nil {
			t.Errorf("Create(%q) made %s", bad, b.Dir)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(r.Dir))
	if len(entries) != 1 {
		t.Errorf("something was made beside the root: %v", entries)
	}
}

// A removal takes the bottle's folder out of the listing before it
// removes it (a half-removed folder is never a bottle's), and what a crash
// left of one goes with the next removal of it, or with Sweep.
func TestRemoveGoesOutOfTheListingFirst(t *testing.T) {
	root := Root{Dir: t.TempDir()}
	b := root.Bottle("p-abcde")
	os.MkdirAll(filepath.Join(b.Dir, "agent", "home"), 0o755)
	os.WriteFile(filepath.Join(b.Dir, MetadataFile), []byte("{}"), 0o644)
	stale := filepath.Join(root.Dir, GonePrefix+"p-abcde")
	os.MkdirAll(filepath.Join(stale, "agent"), 0o755)
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{b.Dir, stale} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left: %v", p, err)
		}
	}
	other := filepath.Join(root.Dir, GonePrefix+"q-fghij")
	os.MkdirAll(filepath.Join(other, "egress"), 0o755)
	keep := filepath.Join(root.Dir, ".warm.log")
	os.WriteFile(keep, nil, 0o644)
	if bs, _ := root.List(); len(bs) != 0 {
		t.Errorf("a folder being removed is listed: %v", bs)
	}
	if err := root.Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(other); !os.IsNotExist(err) {
		t.Errorf("Sweep left %s", other)
	}
	if _, err := os.Lstat(keep); err != nil {
		t.Errorf("Sweep took %s, which is not a removal's", keep)
	}
}

// unlocked is Create's bottle with its lock let go, for tests that only
// need a folder.
func unlocked(b *Bottle, l *Lock, err error) (*Bottle, error) {
	l.Unlock()
	return b, err
}

// gcUnfinished is what bottle gc does with the folders a start made and
// has not described yet (lifecycle.GC): it removes those no command holds.
// (gc's Sweep first waits for a Create under way: TestSweepTakesWhatADeadCreateLeft.)
func gcUnfinished(t *testing.T, r Root) []string {
	t.Helper()
	u, err := r.Unfinished()
	if err != nil {
		t.Fatal(err)
	}
	var removed []string
	for _, b := range u {
		if !b.InUse() {
			if err := b.Remove(); err != nil {
				t.Fatal(err)
			}
			removed = append(removed, b.ID)
		}
	}
	return removed
}

// TestGCNeverTakesAFolderCreateMade: a gc that runs right after a start
// (or the warm keeper) made its bottle's folder, before the start took its
// lock, removed it under the start, which then ran in a folder that was
// gone. Create returns the folder locked, made under a name gc does not
// list and renamed into place once locked; a gc at that moment leaves it
// alone too.
func TestGCNeverTakesAFolderCreateMade(t *testing.T) {
	r := Root{Dir: t.TempDir()}
	var duringCreate []string
	testHookMade = func(string) { duringCreate = gcUnfinished(t, r) }
	defer func() { testHookMade = nil }()
	b, lock, err := r.Create("shell")
	if err != nil {
		t.Fatal(err)
	}
	testHookMade = nil
	if removed := gcUnfinished(t, r); len(removed) > 0 || len(duringCreate) > 0 {
		t.Errorf("gc removed %v while Create made its folder and %v right after it", duringCreate, removed)
	}
	if _, err := os.Stat(filepath.Join(b.Dir, LockFile)); err != nil {
		t.Errorf("the bottle's folder, just made: %v", err)
	}
	if !(&Bottle{ID: b.ID, Dir: b.Dir}).InUse() {
		t.Error("a folder Create made is not held")
	}
	lock.Unlock()
	if removed := gcUnfinished(t, r); len(removed) != 1 || removed[0] != b.ID {
		t.Errorf("gc removed %v once the start let go of %s", removed, b.ID)
	}
}

// TestSweepTakesWhatADeadCreateLeft: a Create that died before its rename
// leaves a folder under its temporary name; Sweep removes it, and never
// one that a Create is making (both take the create lock).
func TestSweepTakesWhatADeadCreateLeft(t *testing.T) {
	r := Root{Dir: t.TempDir()}
	left := filepath.Join(r.Dir, MakingPrefix+"12345")
	os.MkdirAll(left, 0o700)
	os.WriteFile(filepath.Join(left, LockFile), nil, 0o600)
	if err := r.Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Sweep left %s: %v", left, err)
	}
	// While Create makes a folder it holds the create lock, which Sweep
	// takes before it looks.
	testHookMade = func(tmp string) {
		f, err := os.OpenFile(filepath.Join(r.Dir, CreateFile), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
			t.Errorf("the create lock while Create makes %s: %v, want it held", tmp, err)
		}
	}
	defer func() { testHookMade = nil }()
	b, lock, err := r.Create("shell")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	if err := r.Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.Dir); err != nil {
		t.Errorf("Sweep took the bottle's folder Create made: %v", err)
	}
}
