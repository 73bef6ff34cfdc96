package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sysPackages are the packages whose functions reach the kernel directly:
// every one of them that takes a string (a path, a mount's source or
// target, a program to run) counts as a call by path, found from the
// packages' own source so that a function new to them counts too.
var sysPackages = []string{"golang.org/x/sys/unix", "syscall"}

// rawSyscalls take a system call's number and its arguments as integers:
// a path may be among them, so they count as calls by path too.
var rawSyscalls = []string{"Syscall", "Syscall6", "RawSyscall", "RawSyscall6", "SyscallNoError", "RawSyscallNoError"}

// notPaths are the functions of sysPackages that take a string that is no
// path: the environment, conversions, a key's or a host's name.
var notPaths = map[string]bool{
	"Getenv": true, "Setenv": true, "Unsetenv": true, "Clearenv": true,
	"BytePtrFromString": true, "ByteSliceFromString": true, "StringBytePtr": true, "StringByteSlice": true,
	"ByteSliceToString": true, "BytePtrToString": true, "ParseDirent": true,
	"AddKey": true, "RequestKey": true, "KeyctlString": true, "KeyctlSearch": true, "KeyctlJoinSessionKeyring": true,
	"KeyctlDHCompute": true, "KeyctlRestrictKeyring": true, "KeyctlInstantiateIOV": true,
	"FsconfigSetString": true, "FsconfigSetFlag": true, "FsconfigSetBinary": true, "FsconfigSetPath": true, "FsconfigSetPathEmpty": true, "FsconfigSetFd": true,
	"Fsopen": true, "NewIfreq": true, "SetsockoptString": true, "GetsockoptString": true, "BindToDevice": true,
	"SignalNum": true, "Sethostname": true, "Setdomainname": true,
}

// sysPathCalls reads sysPackages' source for Linux and returns, by
// package, their exported functions that take a string or raw arguments.
func sysPathCalls(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{.Dir}}|{{join .GoFiles " "}}`)
	cmd.Args = append(cmd.Args, sysPackages...)
	cmd.Env = append(cmd.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", sysPackages, err)
	}
	m := map[string][]string{}
	fset := token.NewFileSet()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		for _, name := range strings.Fields(f[2]) {
			file, err := parser.ParseFile(fset, filepath.Join(f[1], name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, decl := range file.Decls {
				fd, ok := decl.(*ast.FuncDecl)
				if ok && fd.Recv == nil && fd.Name.IsExported() && !notPaths[fd.Name.Name] && takesString(fd.Type) {
					m[f[0]] = append(m[f[0]], fd.Name.Name)
				}
			}
		}
		m[f[0]] = append(m[f[0]], rawSyscalls...)
	}
	for _, p := range sysPackages {
		if len(m[p]) < 40 {
			t.Fatalf("%s: only %d functions by path found in its source (%v)", p, len(m[p]), m[p])
		}
	}
	return m
}

// takesString says whether a function has a parameter of type string or
// []string.
func takesString(ft *ast.FuncType) bool {
	for _, p := range ft.Params.List {
		typ := p.Type
		if a, ok := typ.(*ast.ArrayType); ok {
			typ = a.Elt
		}
		if id, ok := typ.(*ast.Ident); ok && id.Name == "string" {
			return true
		}
	}
	return false
}

// TestSysPathCallsIncludeTheUsualOnes: the list read from the source holds
// the calls the rule is about, so a change in how the packages are written
// cannot empty it unseen.
func TestSysPathCallsIncludeTheUsualOnes(t *testing.T) {
	m := sysPathCalls(t)
	for pkg, want := range map[string][]string{
		"golang.org/x/sys/unix": {"Open", "Openat", "Openat2", "Mount", "MoveMount", "OpenTree", "Chown", "Lchown", "Fchownat", "Rename", "Renameat2",
			"Mkdir", "Mkdirat", "Mkfifo", "Unlink", "Unlinkat", "Rmdir", "Stat", "Lstat", "Fstatat", "Statx", "Readlink", "Readlinkat", "Symlink",
			"Link", "Chmod", "Truncate", "Chdir", "Chroot", "Exec", "Access", "Faccessat", "Unmount", "PivotRoot", "MountSetattr", "Syscall"},
		"syscall": {"Open", "Openat", "Mount", "Chown", "Lchown", "Rename", "Mkdir", "Mkfifo", "Unlink", "Stat", "Lstat", "Readlink",
			"Symlink", "Exec", "Chdir", "Syscall6"},
	} {
		for _, fn := range want {
			if !slices.Contains(m[pkg], fn) {
				t.Errorf("%s.%s is not counted as a call by path", pkg, fn)
			}
		}
	}
}
