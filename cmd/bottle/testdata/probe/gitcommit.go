package main

import (
	"os"
	"path/filepath"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// gitCommit commits a file on a new branch of the repository at dir, as an
// agent with git would (the test images have no git).
func gitCommit(dir, branch, file, text string) (string, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return "", err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(branch), Create: true, Keep: true}); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(text+"\n"), 0o644); err != nil {
		return "", err
	}
	if _, err := wt.Add(file); err != nil {
		return "", err
	}
	h, err := wt.Commit("agent "+text, &git.CommitOptions{Author: &object.Signature{Name: "agent", Email: "agent@bottle", When: time.Now()}})
	if err != nil {
		return "", err
	}
	return branch + " " + h.String(), nil
}
