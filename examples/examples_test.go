// Package examples holds runnable scenarios; this test keeps every example's
// mcp.yaml loading. The quickstart is also run end to end by
// quickstart/run.sh --smoke in CI.
package examples

import (
	"path/filepath"
	"testing"

	"github.com/api2mcp/api2mcp/configs"
)

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("*/mcp.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Dir(f), func(t *testing.T) {
			cfg, err := configs.Load(f, &configs.Options{
				Environ:   func() []string { return nil },
				LookupEnv: func(string) (string, bool) { return "example-secret", true },
			})
			if err != nil {
				t.Fatalf("%s does not load:\n%v", f, err)
			}
			if len(cfg.Tools) == 0 {
				t.Errorf("%s declares no tools", f)
			}
			if len(cfg.Warnings) > 0 {
				t.Errorf("%s has warnings: %v", f, cfg.Warnings)
			}
		})
	}
}
