package strview

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func TestOf(t *testing.T) {
	b := []byte("hello, world")
	s := Of(b[7:])
	if s != "world" {
		t.Fatalf("Of = %q", s)
	}
	if Of(nil) != "" || Of([]byte{}) != "" {
		t.Error("empty slices give a non-empty string")
	}
	// The view shares the bytes: that is the point, and the hazard.
	b[7] = 'W'
	if s != "World" {
		t.Errorf("Of copied: %q", s)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Of(b) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// TestOnlyHelper keeps the one helper the only one: no other non-test file
// of the module calls unsafe.String, so the lifetime rule has one statement
// and one place to audit. (A test may build an aliasing string on purpose,
// to check that its callee copies.)
func TestOnlyHelper(t *testing.T) {
	root := filepath.Join("..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			filepath.Base(filepath.Dir(path)) == "strview" {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if ok && sel.Sel.Name == "String" {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "unsafe" {
					t.Errorf("%s: unsafe.String outside strview: use strview.Of", fset.Position(sel.Pos()))
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
