package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fsCalls are the calls that reach the file system by path, by package.
var fsCalls = map[string][]string{
	"os": {"Open", "OpenFile", "Create", "CreateTemp", "ReadFile", "WriteFile", "Mkdir", "MkdirAll", "MkdirTemp",
		"Remove", "RemoveAll", "Rename", "Symlink", "Link", "Readlink", "Lstat", "Stat", "ReadDir", "Chown", "Lchown",
		"Chmod", "Chtimes", "Truncate", "OpenRoot", "OpenInRoot", "DirFS", "CopyFS"},
	"path/filepath":                      {"Walk", "WalkDir", "EvalSymlinks", "Glob"},
	"io/ioutil":                          {"ReadFile", "WriteFile", "ReadDir", "TempDir", "TempFile"},
	module + "/internal/files":           {"Copy", "CopyTree", "Write", "WriteAtomic"},
	"github.com/go-git/go-billy/v5/osfs": {"New"},
	"github.com/go-git/go-git/v5":        {"PlainOpen", "PlainOpenWithOptions", "PlainInit", "PlainClone", "PlainCloneContext"},
}

type fsCall struct {
	file, fn, call string
	line           int
}

// funcs calls visit with the body of every function declaration of the
// module's code (tests left out), its file's import names, and its name
// ("Type.Method"); and with each package-level declaration of variables,
// named "package-level" (a function value kept there is a call waiting).
// A dot import is named ". " and its path.
func funcs(t *testing.T, visit func(file string, fset *token.FileSet, names map[string]string, fn string, body ast.Node)) {
	t.Helper()
	fset := token.NewFileSet()
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "hostiletest") {
			return filepath.SkipDir // hostiletest: the harness, which tests alone link (TestHarnessIsForTestsOnly)
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		names := map[string]string{}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			name := filepath.Base(path)
			if path == "github.com/go-git/go-git/v5" {
				name = "git"
			}
			if imp.Name != nil {
				name = imp.Name.Name
			}
			if name == "." {
				name = ". " + path
			}
			names[name] = path
		}
		rel, _ := filepath.Rel("../..", p)
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				visit(filepath.ToSlash(rel), fset, names, "package-level", gd)
			}
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			fn := fd.Name.Name
			if fd.Recv != nil && len(fd.Recv.List) > 0 {
				typ := fd.Recv.List[0].Type
				if s, ok := typ.(*ast.StarExpr); ok {
					typ = s.X
				}
				if g, ok := typ.(*ast.IndexExpr); ok {
					typ = g.X
				}
				if id, ok := typ.(*ast.Ident); ok {
					fn = id.Name + "." + fn
				}
			}
			visit(filepath.ToSlash(rel), fset, names, fn, fd.Body)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pathCalls lists the calls of a method Path with no argument (a
// beneath.Dir's host path), by function.
func pathCalls(t *testing.T) []fsCall {
	var out []fsCall
	funcs(t, func(file string, fset *token.FileSet, _ map[string]string, fn string, body ast.Node) {
		ast.Inspect(body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 0 {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Path" {
				out = append(out, fsCall{file: file, fn: fn, call: "Path()", line: fset.Position(call.Pos()).Line})
			}
			return true
		})
	})
	return out
}

// hostFSCalls lists every call in the module's code (tests left out) that
// reaches the file system by path, with the function it is in.
func hostFSCalls(t *testing.T) []fsCall {
	calls := maps.Clone(fsCalls)
	maps.Copy(calls, sysPathCalls(t))
	var out []fsCall
	funcs(t, func(file string, fset *token.FileSet, names map[string]string, fn string, body ast.Node) {
		for name, path := range names {
			if _, ok := calls[path]; ok && strings.HasPrefix(name, ". ") {
				out = append(out, fsCall{file: file, fn: fn, call: "a dot import of " + path, line: fset.Position(body.Pos()).Line})
			}
		}
		ast.Inspect(body, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			if path, ok := names[id.Name]; ok && slices.Contains(calls[path], sel.Sel.Name) {
				out = append(out, fsCall{file: file, fn: fn, call: id.Name + "." + sel.Sel.Name, line: fset.Position(sel.Pos()).Line})
			}
			return true
		})
	})
	return out
}

// Why a function may open paths by itself.
const (
	ownFolder      = "the bottle's own folder, which no container mounts"
	stateRoot      = "the state root and its folders by identity, which no container mounts"
	removeWhole    = "a bottle's folder removed whole: os.RemoveAll unlinks a link, never follows one"
	personal       = "the person's own files (their config and the paths it names, logins, keys, known hosts), which no container writes"
	hostFiles      = "the host's own files (CA roots, tools, /proc, /dev, the Podman socket), which no container writes"
	readyCheck     = "an existence check of a sidecar's ready file: a link there makes the host read or write nothing"
	privateTemp    = "a private temporary folder of bottle's own"
	sidecarImage   = "the sidecar image, made from the sidecar binary in bottle's cache"
	ownBinaries    = "bottle's own binary and the sidecar binary beside it, installed where no container writes"
	inContainer    = "runs inside a sidecar's container, on its own mounts"
	agentInput     = "runs inside the agent's container, on its input folder: the host's, mounted read-only"
	inAgent        = "runs inside the agent's container before the agent does (waiting for its go-ahead), on its own mounts"
	stage          = "a bottle's stage folder (spec.Container.Stage): its own, which the agent's container alone mounts, read-only"
	corpora        = "the corpora in the repository's testdata, for tests and the bench"
	trustedHelpers = "the helpers for paths no container can write; their callers are held to this list"
	rootItself     = "a folder's root itself, which its caller says no container can write"
	onlyToRefuse   = "links read only to refuse more: a path's real folder is compared besides its name"
	beneathItself  = "internal/beneath itself: every path below a root is resolved from the root's descriptor following no link (its tests plant links at each)"
	noPath         = "a raw system call that takes no path (madvise of the process's own memory)"
	goAheadMounts  = "the go-ahead's mounts: trees cloned from descriptors openSource opened through internal/beneath, targets resolved in the container's own root following no link"
	goAheadChecks  = "the go-ahead's check of what the engine mounted: /proc/PID/root of the container's init, held by a pidfd found alive after, each target resolved in that root following no link (RESOLVE_IN_ROOT, no symlinks or magic links) and only read by fstat"
	goAheadFolder  = "the go-ahead's check of where a mount stands: a folder opened through internal/beneath, one name looked up in it from its descriptor (no link followed), only read by fstat"
)

// trustedFS are the functions that may reach the file system by path,
// each with why its paths are ones no container of a bottle can write.
// Everything else (the agent's home, a bind workspace, the agent's git
// folder, a sidecar's folder, a working directory a repository filled)
// goes through internal/beneath, which follows no link. A new call by path
// fails TestFileSystemCallsAreTrusted until it is listed here, with why.
var trustedFS = map[string]string{
	"lifecycle/workspace.go overlap":                      onlyToRefuse,
	"lifecycle/decide.go decide":                          ownFolder,
	"lifecycle/images.go copyWorkdirBuild":                ownFolder,
	"lifecycle/workspace.go removeKeepingQuarantine":      ownFolder,
	"lifecycle/images.go isolatedBuild":                   ownFolder,
	"lifecycle/images.go imageOf":                         ownFolder,
	"lifecycle/resume.go Resume.Run":                      ownFolder,
	"lifecycle/resume.go exists":                          ownFolder,
	"sidecars/supervise/requests.go Store.Decide":         ownFolder,
	"state/lock.go Bottle.Lock":                           ownFolder,
	"state/lock.go Bottle.InUse":                          ownFolder,
	"state/lock.go Bottle.Adopt":                          ownFolder,
	"state/state.go Bottle.AppendRecord":                  ownFolder,
	"state/state.go Bottle.Metadata":                      ownFolder,
	"state/state.go Bottle.Preserve":                      ownFolder,
	"state/state.go Bottle.PreserveReason":                ownFolder,
	"state/state.go Bottle.Preserved":                     ownFolder,
	"state/state.go Bottle.Record":                        ownFolder,
	"state/state.go Bottle.RemoveRecord":                  ownFolder,
	"state/state.go Bottle.WriteMetadata":                 ownFolder,
	"state/state.go Bottle.WriteRecord":                   ownFolder,
	"kube/copy.go Engine.seed":                            stateRoot,
	"kube/copy.go Engine.unseed":                          stateRoot,
	"engines/clusters.go remembered.Clusters":             stateRoot,
	"engines/clusters.go remembered.Forget":               stateRoot,
	"engines/clusters.go remembered.Remember":             stateRoot,
	"state/state.go Root.KeepQuarantine":                  stateRoot,
	"state/lock.go Root.lockRoot":                         stateRoot,
	"cmd/bottle/warm.go refillInBackground":               stateRoot,
	"cmd/bottle/warm.go runWarm":                          stateRoot,
	"state/state.go Root.Create":                          stateRoot,
	"state/state.go Root.Open":                            stateRoot,
	"state/state.go Root.scan":                            stateRoot,
	"state/state.go Bottle.Remove":                        removeWhole,
	"state/state.go Root.Sweep":                           removeWhole,
	"agent/agent.go promptText":                           personal,
	"cmd/bottle/doctor.go credentialChecks":               personal,
	"config/config.go readLayer":                          personal,
	"config/paths.go layer.checkPaths":                    personal,
	"config/paths.go resolveExisting":                     personal,
	"internal/signin/claude.go Refresher.locked":          personal,
	"internal/signin/signin.go Scheme.choose":             personal,
	"lifecycle/warm.go signinFileID":                      personal,
	"kube/apply.go readHostFile":                          personal,
	"lifecycle/images.go buildFrom":                       personal,
	"lifecycle/dryrun.go launching.imageWork":             personal, // a build not isolated: the person's Containerfile, or a built-in one bottle wrote
	"internal/workspace/survey.go Survey":                 personal,
	"lifecycle/launch_steps.go hostOf":                    personal,
	"lifecycle/launch_steps.go launching.prepare":         personal,
	"sidecars/egress/prepare.go policyOf":                 personal,
	"sidecars/egress/prepare.go resolveSecret":            personal,
	"sidecars/gitgate/prepare.go Plan.resolveCredentials": personal,
	"sidecars/gitgate/prepare.go fileExists":              personal,
	"spec/images.go BuildRef":                             personal,
	"spec/images.go hashEntry":                            personal,
	"spec/images.go hashRef":                              personal,
	"engines/doctor.go rootlessChecks":                    hostFiles,
	"kube/images.go iptablesFiles":                        hostFiles,
	"kube/inpod/isolate.go findTool":                      hostFiles,
	"pod/apply.go hostLock":                               hostFiles,
	"pod/conn.go CheckRuntime":                            hostFiles,
	"pod/conn.go dial":                                    hostFiles,
	"sidecars/egress/prepare.go prepare":                  hostFiles,
	"pod/start.go Conn.waitReady":                         readyCheck,
	"sidecars/egress/warm.go Release":                     readyCheck,
	"pod/warm.go Conn.startSidecar":                       readyCheck,
	"cmd/bottle/doctor.go writable":                       privateTemp,
	"kube/images.go Engine.deliver":                       privateTemp,
	"kube/copy.go Engine.pull":                            privateTemp,
	"pod/conn.go Conn.Close":                              privateTemp,
	"pod/conn.go startService":                            privateTemp,
	"sidecars/gitgate/prepare.go credentialFill":          privateTemp,
	"internal/sidecarimage/sidecarimage.go Write":         sidecarImage,
	"internal/sidecarimage/sidecarimage.go addFile":       sidecarImage,
	"internal/sidecarimage/sidecarimage.go writeLayer":    sidecarImage,
	"spec/images.go SidecarRef":                           sidecarImage,
	"spec/images.go forgetOldRefs":                        sidecarImage,
	"internal/sidecarcli/sidecarcli.go Command":           inContainer,
	"internal/sidecarcli/binary.go Binary":                ownBinaries,
	"kube/inpod/goahead.go awaitFile":                     inContainer,
	"kube/inpod/goahead.go writeCommand":                  inAgent,
	"kube/inpod/goahead.go readCommand":                   inAgent,
	"kube/inpod/goahead.go Release":                       inContainer,
	"agent/start.go AwaitStart":                           inAgent,
	"pod/ahead.go makeStage":                              stage,
	"pod/ahead.go markWaiting":                            stage,
	"pod/goahead.go Conn.goAhead":                         stage,
	"pod/input.go makeInput":                              stage,
	"pod/input.go endingInput.Read":                       stage,
	"pod/input.go feedInput":                              stage,
	"agent/stdin.go CopyStdin":                            agentInput,
	"kube/inpod/inpod.go Keep":                            inContainer,
	"kube/inpod/inpod.go Touch":                           inContainer,
	"sidecars/egress/budget.go LimitMemory":               inContainer,
	"sidecars/egress/audit.go openAudit":                  inContainer,
	"sidecars/egress/gateway.go Gateway.Serve":            inContainer,
	"sidecars/egress/gateway.go Gateway.refresher":        inContainer,
	"sidecars/egress/handoff.go Gateway.listenPass":       inContainer,
	"sidecars/egress/mcp.go mcpWatch.save":                inContainer,
	"sidecars/egress/mcp.go newMCPWatch":                  inContainer,
	"sidecars/egress/policy.go policyFile.get":            inContainer,
	"sidecars/egress/proxy.go NewProxy":                   inContainer,
	"sidecars/egress/warm.go AwaitClaim":                  inContainer,
	"sidecars/egress/proxy.go Proxy.Serve":                inContainer,
	"sidecars/egress/proxy_transport.go Proxy.transport":  inContainer,
	"sidecars/gitgate/audit.go audit.write":               inContainer,
	"sidecars/gitgate/mirror.go openMirror":               inContainer,
	"sidecars/gitgate/server.go NewServer":                inContainer,
	"sidecars/gitgate/server.go Server.Serve":             inContainer,
	"sidecars/gitgate/upstream.go upstream.session":       inContainer,
	"sidecars/idle/idle.go Trim":                          inContainer,
	"sidecars/supervise/requests.go Store.Create":         inContainer,
	"sidecars/supervise/server.go Server.MCP":             inContainer,
	"sidecars/supervise/server.go Server.Serve":           inContainer,
	"sidecars/supervise/server.go Server.proposed":        inContainer,
	"internal/corpus/corpus.go Load":                      corpora,
	"internal/corpus/corpus.go load":                      corpora,
	"internal/files/files.go Copy":                        trustedHelpers,
	"internal/files/files.go CopyTree":                    trustedHelpers,
	"internal/files/files.go Write":                       trustedHelpers,
	"internal/files/files.go WriteAtomic":                 trustedHelpers,
	"internal/beneath/beneath.go Make":                    rootItself,
	"internal/beneath/sys.go Dir.openRoot":                rootItself,
	"internal/beneath/sys.go openBeneath":                 beneathItself,
	"internal/beneath/sys.go walkOpen":                    beneathItself,
	"internal/beneath/sys.go linkOrErr":                   beneathItself,
	"internal/beneath/sys.go lstatAt":                     beneathItself,
	"internal/beneath/read.go Dir.Readlink":               beneathItself,
	"internal/beneath/tree.go Dir.Chown":                  beneathItself,
	"internal/beneath/tree.go Dir.Remove":                 beneathItself,
	"internal/beneath/tree.go Dir.Move":                   beneathItself,
	"internal/beneath/tree.go Dir.Rename":                 beneathItself,
	"internal/beneath/walk.go Handle.MoveTo":              beneathItself,
	"internal/beneath/walk.go Dir.walkEntry":              beneathItself,
	"internal/beneath/walk.go fixMode":                    beneathItself,
	"internal/beneath/walk.go Handle.Lstat":               beneathItself,
	"internal/beneath/write.go Dir.WriteFrom":             beneathItself,
	"internal/beneath/write.go createTemp":                beneathItself,
	"internal/beneath/write.go Dir.Mkdir":                 beneathItself,
	"internal/beneath/write.go Dir.MkdirAll":              beneathItself,
	"internal/beneath/write.go Dir.own":                   beneathItself,
	"internal/beneath/write.go Dir.Symlink":               beneathItself,
	"kube/inpod/inpod.go AwaitThenExec":                   inAgent,
	"agent/start.go execCommand":                          inAgent,
	"pod/goahead.go mountInto":                            goAheadMounts,
	"pod/check.go checkMounts":                            goAheadChecks,
	"pod/check.go checkMount":                             goAheadChecks,
	"pod/check.go folderOf":                               goAheadFolder,
	"pod/ahead.go Conn.sendCommand":                       stage,
	"sidecars/idle/idle.go madvise":                       noPath,
}

// TestFileSystemCallsAreTrusted: every call that reaches the file system by
// path (os, filepath's walks, internal/files, go-git's and billy's own
// file systems, and every function of golang.org/x/sys/unix and syscall
// that takes a string or a raw system call's arguments) is in a function
// listed in trustedFS; and every listed
// function still makes one (a stale entry is a hole waiting to happen).
func TestFileSystemCallsAreTrusted(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range hostFSCalls(t) {
		k := c.file + " " + c.fn
		seen[k] = true
		if _, ok := trustedFS[k]; !ok {
			t.Errorf("%s:%d: %s calls %s on a path: use internal/beneath for a folder a container can write or a repository filled, or list %q in trustedFS with why its paths are trusted", c.file, c.line, c.fn, c.call, k)
		}
	}
	for k := range trustedFS {
		if !seen[k] {
			t.Errorf("trustedFS lists %q, which makes no such call any more: take it out", k)
		}
	}
}

// TestTrustedCallsTakeNoHostilePath: a beneath.Dir's host path (Path) is
// for a mount's source and for messages; a function trusted to open paths
// must not take one, or a hostile folder's path would reach os through it.
func TestTrustedCallsTakeNoHostilePath(t *testing.T) {
	for _, c := range pathCalls(t) {
		if _, ok := trustedFS[c.file+" "+c.fn]; ok {
			t.Errorf("%s:%d: %s opens paths by itself (trustedFS) and takes a folder's host path (%s): go through internal/beneath", c.file, c.line, c.fn, c.call)
		}
	}
}

// TestHarnessIsForTestsOnly: internal/hostiletest plants links for a
// living; no program may link it.
func TestHarnessIsForTestsOnly(t *testing.T) {
	for name, p := range list(t) {
		for _, d := range p.imports {
			if d == module+"/internal/hostiletest" {
				t.Errorf("%s imports the hostile-tree harness outside its tests", name)
			}
		}
	}
}
