package billyfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// A link planted in a git folder (a ref, packed-refs) is no ref, and no
// error: go-git reads the repository as git would have made it.
func TestPlantedLinksReadAsNothing(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "one"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("0123456789012345678901234567890123456789\n"), 0o600)
	gd := filepath.Join(dir, ".git")
	os.Symlink(secret, filepath.Join(gd, "refs", "heads", "evil"))
	os.Symlink(secret, filepath.Join(gd, "packed-refs"))
	repo, err := git.Open(filesystem.NewStorage(New(beneath.At(dir).MustJoin(".git")), cache.NewObjectLRUDefault()), nil)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := repo.Branches()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := refs.ForEach(func(r *plumbing.Reference) error { names = append(names, r.Name().Short()); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "main" {
		t.Errorf("branches %v, want main alone", names)
	}
}
