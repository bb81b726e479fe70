package openapi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/api2mcp/api2mcp/mapping"
)

// npmDir holds the real-world specs .ci/run installs from npm
// (testdata/npm/package.json).
const npmDir = "testdata/npm/node_modules"

// needNPM skips a test when the npm packages are not installed, except in CI,
// where their absence is a failure.
func needNPM(t testing.TB, rel string) string {
	t.Helper()
	if raceEnabled {
		t.Skip("real specs are imported without -race (.ci/run does)")
	}
	p := filepath.Join(npmDir, rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: run npm ci --prefix mapping/openapi/testdata/npm", p)
		}
		t.Skipf("%s is missing (npm ci --prefix mapping/openapi/testdata/npm installs it)", p)
	}
	return p
}

// importAndCompile imports a spec and compiles every tool it yields, as
// package configs does; it returns a summary of the import.
func importAndCompile(t testing.TB, path string) (*Result, string) {
	t.Helper()
	res, err := Load(context.Background(), path, nil, &Options{Upstream: "api"})
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	var errs []error
	for _, tool := range res.Tools {
		if _, err := mapping.Compile(tool.Spec); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", tool.Operation, tool.Spec.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Errorf("%s: tools that do not compile:\n%v", path, err)
	}
	reasons := map[string]int{}
	for _, s := range res.Skipped {
		reasons[s.Reason]++
	}
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(reasons)) {
		parts = append(parts, fmt.Sprintf("%d: %s", reasons[r], r))
	}
	sort.Strings(parts)
	summary := fmt.Sprintf("%d tools, %d skipped", len(res.Tools), len(res.Skipped))
	if len(parts) > 0 {
		summary += " (" + strings.Join(parts, "; ") + ")"
	}
	return res, summary
}

// TestReadmeExamples imports every spec of @readme/oas-examples: none may fail,
// and every tool must compile.
func TestReadmeExamples(t *testing.T) {
	dir := needNPM(t, "@readme/oas-examples")
	var files []string
	for _, v := range []string{"2.0", "3.0", "3.1"} {
		filepath.WalkDir(filepath.Join(dir, v), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".yaml")) {
				files = append(files, p)
			}
			return nil
		})
	}
	if len(files) < 100 {
		t.Fatalf("found %d specs, want the whole package", len(files))
	}
	total, skipped := 0, 0
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		t.Run(rel, func(t *testing.T) {
			res, summary := importAndCompile(t, f)
			total += len(res.Tools)
			skipped += len(res.Skipped)
			t.Log(summary)
		})
	}
	t.Logf("%d specs: %d tools, %d operations skipped", len(files), total, skipped)
}

// TestGitHubSpec imports GitHub's REST API description (13 MB) and compiles
// every tool.
func TestGitHubSpec(t *testing.T) {
	p := needNPM(t, "@octokit/openapi/generated/api.github.com.json")
	res, summary := importAndCompile(t, p)
	t.Log(summary)
	if len(res.Tools) < 1000 {
		t.Errorf("%d tools, want more than 1000", len(res.Tools))
	}
}
