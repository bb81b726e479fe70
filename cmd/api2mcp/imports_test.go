package main

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportGraph holds the import graph in place: cmd → proxy → configs →
// {mapping, authn}, proxy → {mapping, authn}; mapping and authn import none
// of ours. Test-only packages (authn/authntest, examples, e2e) are not
// checked.
func TestImportGraph(t *testing.T) {
	const mod = "github.com/api2mcp/api2mcp/"
	allowed := map[string][]string{
		"cmd/api2mcp": {"configs", "proxy"},
		"proxy":       {"configs", "mapping", "authn"},
		"configs":     {"mapping", "authn"},
		"mapping":     {},
		"authn":       {},
	}
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, mod)
		want, checked := allowed[name]
		if !checked {
			continue
		}
		seen++
		for _, imp := range p.Imports {
			ours, ok := strings.CutPrefix(imp, mod)
			if ok && !slices.Contains(want, ours) {
				t.Errorf("%s imports %s; it may import only %v", name, ours, want)
			}
		}
	}
	if seen != len(allowed) {
		t.Errorf("checked %d packages, want %d", seen, len(allowed))
	}
}
