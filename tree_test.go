// Tests of the repository's shape: what may import what, and that every package says what it is.
package rampart_test

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeviceImportsNoServerCode keeps the device runtime and the shared formats free of service
// code: a device must be buildable, and auditable, without the server in it.
func TestDeviceImportsNoServerCode(t *testing.T) {
	for _, pkgs := range []string{"./device/...", "./format/...", "./api/...", "./ident/..."} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkgs).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "matched no packages") {
				continue
			}
			t.Fatalf("go list %s: %v\n%s", pkgs, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/rampart-iot/rampart/server") ||
				strings.HasPrefix(dep, "github.com/rampart-iot/rampart/cli") {
				t.Errorf("%s depends on %s", pkgs, dep)
			}
		}
	}
}

// TestEveryPackageHasDoc checks each package has a doc comment saying what it provides.
func TestEveryPackageHasDoc(t *testing.T) {
	documented := map[string]bool{}
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		seen[dir] = true
		if f.Doc != nil && len(strings.TrimSpace(f.Doc.Text())) > 20 {
			documented[dir] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range seen {
		if !documented[dir] {
			t.Errorf("package in %s has no doc comment saying what it provides and why", dir)
		}
	}
}

// TestSecurityTableNamesRealTests keeps SECURITY.md honest: every test its attack table names
// exists, so a renamed or removed test cannot leave the table claiming a defence that nothing
// checks any more.
func TestSecurityTableNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile("SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "## Attacks and the tests that stop them")
	if !ok {
		t.Fatal("SECURITY.md has no section \"Attacks and the tests that stop them\"")
	}
	defined := map[string]bool{}
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(src), "\n") {
			if name, ok := strings.CutPrefix(line, "func "); ok {
				name, _, _ = strings.Cut(name, "(")
				defined[name] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, field := range strings.Split(table, "`") {
		if (strings.HasPrefix(field, "Test") || strings.HasPrefix(field, "Fuzz")) && !strings.ContainsAny(field, " .(") {
			named++
			if !defined[field] {
				t.Errorf("SECURITY.md names %s, which no test file defines", field)
			}
		}
	}
	if named < 20 {
		t.Errorf("SECURITY.md's attack table names %d tests; want every attack's", named)
	}
}
