package sidecarcli

import (
	"debug/buildinfo"
	"path/filepath"
	"runtime/debug"
)

// Name is the sidecar binary's file name, beside the bottle binary.
const Name = "bottle-sidecar"

// Binary is the program a bottle's containers run: the sidecar binary
// beside the bottle binary exe (its links resolved) when it was built from
// the same source as the running bottle (self: its build information),
// else exe itself, which has the same tree (go install makes bottle
// alone). Reading the build information costs no exec: a few reads of the
// file's header and one section.
func Binary(exe string, self *debug.BuildInfo) string {
	real, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return exe
	}
	candidate := filepath.Join(filepath.Dir(real), Name)
	bi, err := buildinfo.ReadFile(candidate)
	if err != nil || !sameBuild(self, bi) {
		return exe
	}
	return candidate
}

// sameBuild says whether a and b were built from the same source, the
// same way: the main module's path and version, the commit and whether
// the tree was modified, the -ldflags (the Makefile's version stamp), the
// toolchain and the platform. Builds that say none of commit, version or
// stamp are never the same: nothing tells an old one from a new one.
func sameBuild(a, b *debug.BuildInfo) bool {
	if a == nil || b == nil {
		return false
	}
	sa, sb := settings(a), settings(b)
	if sa["vcs.revision"] == "" && sa["-ldflags"] == "" && (a.Main.Version == "" || a.Main.Version == "(devel)") {
		return false
	}
	for _, k := range []string{"vcs.revision", "vcs.modified", "-ldflags", "GOOS", "GOARCH"} {
		if sa[k] != sb[k] {
			return false
		}
	}
	return a.Main.Path == b.Main.Path && a.Main.Version == b.Main.Version && a.GoVersion == b.GoVersion
}

func settings(bi *debug.BuildInfo) map[string]string {
	m := map[string]string{}
	for _, s := range bi.Settings {
		m[s.Key] = s.Value
	}
	return m
}
