package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The packages that may name an engine: the engines themselves and the
// router that chooses among them; config, whose profile keys are the
// engines' names ([kubernetes], engine = "...").
var namers = []string{"pod", "kube", "engines", "config"}

// enginePackages are the engines' own packages. kube/inpod, the code a
// cluster bottle's pod runs, links no engine (TestImportRules) and the
// sidecar binary imports it.
var enginePackages = []string{module + "/pod", module + "/kube"}

// TestOnlyTheRouterNamesAnEngine: no code outside the engines and the
// router imports an engine, reads the user's [kubernetes], or compares a
// name with an engine's: a new engine is a package and a case in the
// router, and nothing else changes. Comments and messages may name them.
func TestOnlyTheRouterNamesAnEngine(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../..", p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			for _, n := range namers {
				if rel == n {
					return filepath.SkipDir
				}
			}
			if d.Name() == ".git" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, e := range enginePackages {
				if path == e {
					t.Errorf("%s imports the engine %s: go through the router (package engines)", rel, path)
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				switch n.Sel.Name {
				case "EnginePodman", "EngineKubernetes", "Kubernetes":
					t.Errorf("%s:%d: %s names an engine: only the router (package engines) does", rel, fset.Position(n.Pos()).Line, n.Sel.Name)
				}
			case *ast.BasicLit:
				if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING {
					switch strings.ToLower(s) {
					case "podman", "kubernetes":
						t.Errorf("%s:%d: the string %q names an engine: only the router (package engines) does", rel, fset.Position(n.Pos()).Line, s)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
