package configs

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeConfigLoads keeps the README's configuration reference true: its
// YAML block must load as it is.
func TestReadmeConfigLoads(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## Configuration in brief")
	if !ok {
		t.Fatal(`README.md has no "## Configuration in brief" section`)
	}
	_, block, ok := strings.Cut(rest, "```yaml\n")
	if !ok {
		t.Fatal("the section has no ```yaml block")
	}
	block, _, _ = strings.Cut(block, "```")
	cfg, err := Load("README.md", &Options{
		Environ:   func() []string { return nil },
		LookupEnv: func(string) (string, bool) { return "readme-secret", true },
		ReadFile:  func(string) ([]byte, error) { return []byte(block), nil },
	})
	if err != nil {
		t.Fatalf("the README's config does not load:\n%v", err)
	}
	if len(cfg.Tools) < 2 {
		t.Errorf("loaded %d tools, want the README's two", len(cfg.Tools))
	}
}
