package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestImportGraph holds the layout of DESIGN.md in place: imports point one
// way (cmd → proxy → configs → {mapping, authn}, proxy → {mapping, authn},
// mapping/openapi → mapping; authn/store imports none of ours), and each
// third-party module is used from one package (tests excepted).
func TestImportGraph(t *testing.T) {
	const module = "github.com/api2mcp/api2mcp/"
	allowed := map[string][]string{
		"cmd/api2mcp":     {"proxy", "configs"},
		"proxy":           {"configs", "mapping", "authn"},
		"configs":         {"mapping", "mapping/openapi", "authn"},
		"mapping":         nil,
		"mapping/openapi": {"mapping"},
		"authn":           {"authn/store"},
		"authn/store":     nil,
	}
	users := map[string][]string{} // third-party module → our packages
	for pkg, ok := range allowed {
		files, _ := filepath.Glob(filepath.Join("..", "..", pkg, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range parsed.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if dep, ours := strings.CutPrefix(path, module); ours {
					if !contains(ok, dep) {
						t.Errorf("%s imports %s; it may import only %v", f, dep, ok)
					}
					continue
				}
				if first, _, _ := strings.Cut(path, "/"); !strings.Contains(first, ".") {
					continue // standard library
				}
				mod := moduleOf(path)
				if !contains(users[mod], pkg) {
					users[mod] = append(users[mod], pkg)
				}
			}
		}
	}
	// The walk must have seen the modules it checks.
	if got := users["github.com/getkin/kin-openapi"]; len(got) != 1 || got[0] != "mapping/openapi" {
		t.Errorf("kin-openapi is used from %v, want mapping/openapi only", got)
	}
	if got := users["go.etcd.io/bbolt"]; len(got) != 1 || got[0] != "authn/store" {
		t.Errorf("bbolt is used from %v, want authn/store only", got)
	}
	for mod, pkgs := range users {
		// x/time/rate is the token bucket both the rate limits (proxy) and
		// the JWKS refresh limit (authn, whose JWKS library takes a
		// *rate.Limiter) need: a language-level building block.
		if mod == "golang.org/x/time" {
			continue
		}
		// go-redis is the client both the shared rate limits (proxy) and
		// the authorization server's shared state (authn/store) talk to
		// Redis with; neither package may import the other.
		sort.Strings(pkgs)
		if mod == "github.com/redis/go-redis/v9" && slices.Equal(pkgs, []string{"authn/store", "proxy"}) {
			continue
		}
		if len(pkgs) > 1 {
			t.Errorf("module %s is used from %v; each module belongs to one package", mod, pkgs)
		}
	}
}

// moduleOf approximates a package's module: three path elements (host,
// owner, repository), plus a major-version element.
func moduleOf(path string) string {
	parts := strings.Split(path, "/")
	n := min(3, len(parts))
	if len(parts) > n && len(parts[n]) > 1 && parts[n][0] == 'v' && strings.Trim(parts[n][1:], "0123456789") == "" {
		n++
	}
	return strings.Join(parts[:n], "/")
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}
