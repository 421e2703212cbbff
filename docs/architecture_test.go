// Package docs holds the project's documentation; its test keeps the package
// table of architecture.md true to the code.
package docs

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/asfnet/asf/"

// goImports returns, for every package of the module, the module packages
// it imports (paths relative to the module root), from `go list`.
func goImports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}`, "./...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	got := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		pkg, imps, _ := strings.Cut(strings.TrimSpace(line), "|")
		var own []string
		for _, i := range strings.Fields(imps) {
			if strings.HasPrefix(i, module) {
				own = append(own, strings.TrimPrefix(i, module))
			}
		}
		slices.Sort(own)
		got[strings.TrimPrefix(pkg, module)] = own
	}
	return got
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// names expands the package names of a table cell: `a`, `b/{c,d}`.
func names(cell string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
		if pre, alts, ok := strings.Cut(m[1], "{"); ok && strings.HasSuffix(alts, "}") {
			for _, a := range strings.Split(strings.TrimSuffix(alts, "}"), ",") {
				out = append(out, pre+a)
			}
			continue
		}
		out = append(out, m[1])
	}
	return out
}

// TestPackageTable checks architecture.md's package table against the code:
// every package is listed once, with exactly the module packages it imports,
// and imports only packages listed above it (cmd/ and deploy/ rows, the
// binaries and their tests, are exempt from the order).
func TestPackageTable(t *testing.T) {
	b, err := os.ReadFile("architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "\n## Packages")
	if start < 0 {
		t.Fatal(`architecture.md has no "## Packages" section`)
	}
	doc = doc[start+1:]
	if end := strings.Index(doc[3:], "\n## "); end >= 0 {
		doc = doc[:end+3]
	}
	code := goImports(t)
	var above []string
	listed := map[string]bool{}
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cols := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		pkgs := names(cols[0])
		exempt := strings.HasPrefix(pkgs[0], "cmd") || strings.HasPrefix(pkgs[0], "deploy")
		for _, p := range pkgs {
			listed[p] = true
		}
		if exempt {
			continue
		}
		p := pkgs[0]
		imps, ok := code[p]
		if !ok {
			t.Errorf("architecture.md lists %s, which is not a package of the module", p)
			continue
		}
		var want []string
		if c := strings.TrimSpace(cols[len(cols)-1]); c != "-" {
			want = names(c)
		}
		slices.Sort(want)
		if !slices.Equal(want, imps) {
			t.Errorf("%s: architecture.md says it imports %v, the code imports %v", p, want, imps)
		}
		for _, i := range imps {
			if !slices.Contains(above, i) {
				t.Errorf("%s imports %s, which is not listed above it", p, i)
			}
		}
		above = append(above, p)
	}
	for p := range code {
		if !listed[p] && !strings.HasPrefix(p, "cmd") && !strings.HasPrefix(p, "deploy") && p != "docs" {
			t.Errorf("package %s is not in architecture.md's package table", p)
		}
	}
}
