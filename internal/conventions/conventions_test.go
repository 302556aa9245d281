package conventions

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// root is the module root, two levels up from this package.
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s", r)
	}
	return r
}

type pkg struct {
	dir     string
	name    string
	docs    []string // files with a package doc comment
	imports map[string][]string
}

// packages parses every non-test Go file below the root.
func packages(t *testing.T) map[string]*pkg {
	t.Helper()
	r := root(t)
	out := map[string]*pkg{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(r, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != r && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "bin" || name == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(r, filepath.Dir(path))
		p := out[dir]
		if p == nil {
			p = &pkg{dir: dir, name: f.Name.Name, imports: map[string][]string{}}
			out[dir] = p
		}
		if f.Doc != nil && strings.HasPrefix(strings.TrimSpace(f.Doc.Text()), "Package "+f.Name.Name) {
			p.docs = append(p.docs, filepath.Base(path))
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			p.imports[ip] = append(p.imports[ip], filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryPackageHasOneDoc(t *testing.T) {
	for dir, p := range packages(t) {
		if p.name == "main" {
			continue
		}
		if len(p.docs) != 1 {
			t.Errorf("%s: package %s has %d package doc comments %v; want exactly one (\"// Package %s ...\")", dir, p.name, len(p.docs), p.docs, p.name)
		}
	}
}

func TestNoPackageNamedSync(t *testing.T) {
	for dir, p := range packages(t) {
		if p.name == "sync" {
			t.Errorf("%s: a package may not be named sync (it shadows the standard library); use a sub-package", dir)
		}
	}
}

func TestDriversImportNeitherAgentNorSync(t *testing.T) {
	for dir, p := range packages(t) {
		if !strings.HasPrefix(dir, "drivers") {
			continue
		}
		for ip, files := range p.imports {
			if strings.HasPrefix(ip, "wedge/agent") || strings.HasPrefix(ip, "wedge/sync") {
				t.Errorf("%s (%v) imports %s: drivers must not depend on the agent or the sync layer", dir, files, ip)
			}
		}
	}
}
