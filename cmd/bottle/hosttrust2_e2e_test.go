//go:build e2e

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The host-trust attacks of the second round (issue 19): every folder an
// agent can write is hostile ground, and so is a repository received as a
// folder. Each plays the attack in a real bottle and does what the person
// (or the next start) does afterwards.

// A recorded nested repository is mounted read-only at its place; the
// agent renames its parent folder away (the mount goes with it) and writes
// a look-alike whose config runs a command. The person's git status there
// after the session must run nothing.
func TestBindAgentCannotSwapARecordedNestedRepository(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	lib := nestedWorkspace(t, e)
	marks := e.markDir()
	// Its own git folder (HEAD and a commondir, no objects) naming a common
	// folder (objects, refs and a config, no HEAD): neither is shaped like
	// a bare repository, together they are one git reads.
	out, errs, code := e.run("start", "--yes", "--keep", "git", "--", strings.Join([]string{
		"cd /workspace/vendor",
		"(mv lib lib-old 2>&1 && echo renamed)",
		"mkdir -p lib/evil lib/common/objects lib/common/refs",
		"printf 'gitdir: evil\\n' > lib/.git",
		"printf 'ref: refs/heads/main\\n' > lib/evil/HEAD",
		"echo ../common > lib/evil/commondir",
		plantFSMonitor("lib/common/config", marks, "swapped"),
		"echo planted",
	}, "; "))
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "renamed") || !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try:\n%s", out)
	}
	hostGitRunsNothing(t, e, lib, filepath.Join(e.workdir, "vendor", "lib-old"))
	if !strings.Contains(errs, "vendor/lib/.git") {
		t.Errorf("the person was not told what changed at vendor/lib/.git:\n%s", errs)
	}
	id := identityIn(t, errs)
	// The next start holds back until the person has looked.
	out, errs, code = e.run("resume", "--yes", id, "--", "true")
	if code == 0 || !strings.Contains(errs, "--reviewed") || !strings.Contains(errs, "vendor/lib/.git") {
		t.Errorf("resume after a changed recorded entry: exit %d\n%s\n%s", code, out, errs)
	}
	e.mustRun("resume", "--yes", "--reviewed", id, "--", "true")
	hostGitRunsNothing(t, e, lib)
	e.run("rm", id)
}

// The agent leaves a link where the recorded nested git metadata was: the
// next start must not mount what the link names (here the host's /).
func TestBindAgentLinkAtARecordedNestedEntryMountsNothing(t *testing.T) {
	e := newEnv(t, gitAgentBindConfig)
	gitImage(t, filepath.Join(e.dir, "gitimg"))
	nestedWorkspace(t, e)
	private := filepath.Join(e.dir, "private")
	os.MkdirAll(private, 0o755)
	os.WriteFile(filepath.Join(private, "secret.txt"), []byte("HOST-SECRET-7f3a\n"), 0o644)
	out, errs, code := e.run("start", "--yes", "--keep", "git", "--", strings.Join([]string{
		"cd /workspace/vendor",
		"(mv lib lib-old 2>&1 && echo renamed)",
		"mkdir lib && ln -s " + private + " lib/.git",
		"echo planted",
	}, "; "))
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "renamed") || !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try:\n%s", out)
	}
	id := identityIn(t, errs)
	read := "cat /workspace/vendor/lib/.git/secret.txt " + private + "/secret.txt 2>&1; echo done"
	for _, args := range [][]string{{"resume", "--yes", id, "--", read}, {"resume", "--yes", "--reviewed", id, "--", read}} {
		out, errs, code = e.run(args...)
		t.Logf("%v: exit %d\n%s\n%s", args[:len(args)-2], code, out, errs)
		if strings.Contains(out, "HOST-SECRET") {
			t.Fatalf("the resumed agent read the host's folder the link it left named:\n%s", out)
		}
	}
	e.run("rm", id)
}

// The agent leaves a link at a home file bottle writes at every start,
// leading (relatively, up and out of its home) to the person's login: the
// next start must not copy the login into a file the agent reads.
func TestHomeFilesNeverReadThroughTheAgentsLink(t *testing.T) {
	e := newEnv(t, strings.ReplaceAll(homeFilesConfig, "%IMAGE%", baseImage()))
	personWithGoogleLogin(t, e)
	// From state/bottle/ID/agent/home/.gemini, six folders up is e.dir.
	out, errs, code := e.run("start", "--yes", "--keep", "hf", "--",
		"mkdir -p ~/.gemini && ln -sf ../../../../../../home/.gemini/oauth_creds.json ~/.gemini/settings.json && echo planted")
	if code != 0 || !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try: exit %d\n%s\n%s", code, out, errs)
	}
	id := identityIn(t, errs)
	out, errs, code = e.run("resume", "--yes", id, "--", "cat ~/.gemini/settings.json; echo; cat ~/.gemini/oauth_creds.json")
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if strings.Contains(out, "REAL-REFRESH") || strings.Contains(out, "REAL-ACCESS") {
		t.Fatalf("the person's login reached a file the agent reads:\n%s", out)
	}
	if code != 0 || !strings.Contains(out, `"bottle": true`) {
		t.Errorf("the profile's settings were not written: exit %d\n%s\n%s", code, out, errs)
	}
	e.run("rm", id)
}

// The agent replaces the folder bottle writes into with a link to the
// person's own: the next start must not write the profile's settings and
// the placeholder login there (nor, rootful, chown it).
func TestHomeWritesNeverFollowTheAgentsFolderLink(t *testing.T) {
	e := newEnv(t, strings.ReplaceAll(homeFilesConfig, "%IMAGE%", baseImage()))
	login, content := personWithGoogleLogin(t, e)
	before, _ := os.Stat(filepath.Dir(login))
	out, errs, code := e.run("start", "--yes", "--keep", "hf", "--",
		"rm -rf ~/.gemini && ln -s ../../../../../home/.gemini ~/.gemini && echo planted")
	if code != 0 || !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try: exit %d\n%s\n%s", code, out, errs)
	}
	id := identityIn(t, errs)
	out, errs, code = e.run("resume", "--yes", id, "--", "ls -la ~/.gemini")
	t.Logf("exit %d\n%s\n%s", code, out, errs)
	if got, _ := os.ReadFile(login); string(got) != string(content) {
		t.Errorf("the person's login was replaced: %s", got)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(login), "settings.json")); err == nil {
		t.Error("the profile's settings were written into the person's folder")
	}
	if after, _ := os.Stat(filepath.Dir(login)); after != nil && before != nil && ownerOf(after) != ownerOf(before) {
		t.Errorf("the person's folder changed owner: %v, was %v", ownerOf(after), ownerOf(before))
	}
	e.run("rm", id)
}

// A project received as a folder (not cloned) whose .git names another of
// the person's repositories: the agent must not get that repository's
// objects and refs.
func TestARepositoryCannotNameAnother(t *testing.T) {
	for _, mode := range []string{"bind", "copy"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, gitAgentBindConfig+"workspace = \""+mode+"\"\n")
			gitImage(t, filepath.Join(e.dir, "gitimg"))
			other := filepath.Join(e.dir, "private")
			os.MkdirAll(other, 0o755)
			hostGit(t, other, "init", "-q")
			os.WriteFile(filepath.Join(other, "plan.txt"), []byte("private\n"), 0o644)
			hostGit(t, other, "add", "plan.txt")
			hostGit(t, other, "commit", "-qm", "PRIVATE-COMMIT-41e7")
			chownToOwner(t, e, other)
			hostGit(t, other, "remote", "add", "origin", filepath.Join(e.dir, "private-up.git"))
			os.WriteFile(filepath.Join(e.workdir, ".git"), []byte("gitdir: "+filepath.Join(other, ".git")+"\n"), 0o644)
			os.WriteFile(filepath.Join(e.workdir, "README"), []byte("a project\n"), 0o644)
			chownToOwner(t, e, e.workdir)
			out, errs, code := e.run("start", "--yes", "git", "--", "cd /workspace && git -c safe.directory='*' log --all --format=%s 2>&1; echo done")
			t.Logf("exit %d\n%s\n%s", code, out, errs)
			if strings.Contains(out, "PRIVATE-COMMIT") {
				t.Fatalf("the agent read another repository's history:\n%s", out)
			}
			if strings.Contains(errs, "private-up.git") {
				t.Errorf("the gate serves the other repository's remote:\n%s", errs)
			}
			switch mode {
			case "bind":
				if code == 0 || !strings.Contains(errs, other) || !strings.Contains(errs, "repositories") || strings.Count(strings.TrimSpace(errs), "\n") > 0 && !strings.Contains(errs, "bottle: ") {
					t.Errorf("bind mode should refuse in one line naming %s: exit %d\n%s", other, code, errs)
				}
			case "copy":
				if code != 0 || !strings.Contains(out, "done") {
					t.Errorf("copy mode should start, leaving the .git out: exit %d\n%s", code, errs)
				}
			}
		})
	}
}

// The hostile-tree harness end to end: the agent plants links everywhere
// it can write that a host step later reads or writes (its home, where
// bottle writes the profile's settings and the sign-in's placeholder
// login; its git folder's refs, packed refs and alternates; the
// workspace's recorded nested repository and a new one), then the person
// does what people do: the session ends, bottle git fetch, bottle logs, a
// resume (reviewed), bottle rm. The person's login and a private file stay
// as they were, never reach anything the agent reads, and the person's git
// runs nothing.
func TestAgentLinksEverywhereItWritesLeadNowhere(t *testing.T) {
	e := newEnv(t, strings.ReplaceAll(homeFilesConfig, "%IMAGE%", baseImage()))
	login, content := personWithGoogleLogin(t, e)
	lib := nestedWorkspace(t, e)
	private := filepath.Join(e.dir, "private")
	os.MkdirAll(private, 0o755)
	os.WriteFile(filepath.Join(private, "secret.txt"), []byte("HOST-SECRET-2b8e\n"), 0o644)
	loginBefore, _ := os.Stat(login)
	e.markDir() // the owner's git, run below, reaches the workspace
	// From state/bottle/ID/agent/home/X, six folders up is e.dir; from the
	// agent's git folder (state/bottle/ID/agent/git/refs/heads), seven.
	plant := strings.Join([]string{
		"mkdir -p ~/.gemini",
		"ln -sf ../../../../../../home/.gemini/oauth_creds.json ~/.gemini/settings.json",
		"ln -sf ../../../../../../home/.gemini/oauth_creds.json ~/.gemini/oauth_creds.json",
		"ln -sf ../../../../../../../home/.gemini/oauth_creds.json /workspace/.git/refs/heads/evil",
		"ln -sf " + login + " /workspace/.git/packed-refs",
		"rm -rf /workspace/.git/objects/info && ln -s " + private + " /workspace/.git/objects/info",
		"cd /workspace/vendor && mv lib lib-old && mkdir lib && ln -s " + private + " lib/.git",
		"mkdir -p /workspace/new && ln -s " + private + " /workspace/new/.git",
		"echo planted",
	}, "; ")
	out, errs, code := e.run("start", "--yes", "--keep", "hf", "--", plant)
	t.Logf("start: exit %d\n%s\n%s", code, out, errs)
	if !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not even try:\n%s", out)
	}
	id := identityIn(t, errs)
	for _, args := range [][]string{
		{"git", "fetch", id},
		{"logs", id, "egress"},
		{"resume", "--yes", id, "--", "true"},
		{"resume", "--yes", "--reviewed", "--keep", id, "--", "cat ~/.gemini/settings.json ~/.gemini/oauth_creds.json /workspace/vendor/lib/.git/secret.txt " + private + "/secret.txt 2>&1; echo done"},
	} {
		out, errs, code := e.run(args...)
		t.Logf("%v: exit %d\n%s\n%s", args, code, out, errs)
		if strings.Contains(out+errs, "REAL-REFRESH") || strings.Contains(out+errs, "REAL-ACCESS") || strings.Contains(out+errs, "HOST-SECRET") {
			t.Errorf("%v: what is outside the bottle reached it or its output", args)
		}
		// The links hold nothing back but the resume that must be looked at.
		if wantFail := args[0] == "resume" && args[2] == id; (code != 0) != wantFail {
			t.Errorf("%v: exit %d", args, code)
		}
	}
	hostGitRunsNothing(t, e, lib, filepath.Join(e.workdir, "new"), e.workdir)
	e.run("rm", id)
	if got, _ := os.ReadFile(login); string(got) != string(content) {
		t.Errorf("the person's login changed: %s", got)
	}
	if after, _ := os.Stat(login); after == nil || ownerOf(after) != ownerOf(loginBefore) || after.Mode() != loginBefore.Mode() {
		t.Errorf("the person's login changed owner or mode: %v", after)
	}
	if got, _ := os.ReadFile(filepath.Join(private, "secret.txt")); string(got) != "HOST-SECRET-2b8e\n" {
		t.Errorf("the private file changed: %q", got)
	}
	if entries, _ := os.ReadDir(private); len(entries) != 1 {
		t.Errorf("something was written into the private folder: %v", entries)
	}
}
