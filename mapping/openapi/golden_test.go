package openapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/api2mcp/api2mcp/mapping"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// goldenOptions are read from a spec's x-golden-options key.
type goldenOptions struct {
	Include         []string            `json:"include"`
	Exclude         []string            `json:"exclude"`
	Overrides       map[string]Override `json:"overrides"`
	OutputSchema    bool                `json:"output_schema"`
	ReservedHeaders []string            `json:"reserved_headers"`
}

// TestGolden imports each testdata/golden/NAME.yaml (one small spec per
// rule) and compares the tools, skipped operations and warnings with
// NAME.json. Every tool must compile. Run with -update after a deliberate
// change.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden specs: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var go_ goldenOptions
			if root, err := decode(data); err == nil {
				if m, ok := root.(map[string]any)["x-golden-options"]; ok {
					b, _ := json.Marshal(m)
					if err := json.Unmarshal(b, &go_); err != nil {
						t.Fatalf("x-golden-options: %v", err)
					}
				}
			}
			res, err := Load(t.Context(), file, nil, &Options{
				Upstream: "api", Include: go_.Include, Exclude: go_.Exclude, Overrides: go_.Overrides,
				OutputSchema: go_.OutputSchema, ReservedHeaders: go_.ReservedHeaders,
			})
			var got []byte
			if err != nil {
				got, _ = json.MarshalIndent(map[string]any{"error": err.Error()}, "", "  ")
			} else {
				for _, tool := range res.Tools {
					if _, err := mapping.Compile(tool.Spec); err != nil {
						t.Errorf("%s %q does not compile: %v", tool.Operation, tool.Spec.Name, err)
					}
				}
				got = render(t, res)
			}
			want := strings.TrimSuffix(file, ".yaml") + ".json"
			if *update {
				if err := os.WriteFile(want, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantData, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(wantData), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", want, diff)
			}
		})
	}
}

// render writes a result as indented JSON, leaving out empty fields.
func render(t *testing.T, res *Result) []byte {
	t.Helper()
	type tool struct {
		Operation string `json:"operation"`
		Spec      any    `json:"spec"`
	}
	out := struct {
		Tools    []tool   `json:"tools"`
		Skipped  []Skip   `json:"skipped,omitempty"`
		Warnings []string `json:"warnings,omitempty"`
	}{Skipped: res.Skipped, Warnings: res.Warnings}
	for _, tl := range res.Tools {
		b, err := json.Marshal(tl.Spec)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		out.Tools = append(out.Tools, tool{Operation: tl.Operation, Spec: dropEmpty(m)})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func dropEmpty(m map[string]any) map[string]any {
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			delete(m, k)
		case string:
			if v == "" {
				delete(m, k)
			}
		case float64:
			if v == 0 {
				delete(m, k)
			}
		case map[string]any:
			if k == "Input" || k == "OutputSchema" || k == "Body" {
				continue
			}
			if dropEmpty(v); len(v) == 0 {
				delete(m, k)
			}
		case []any:
			if len(v) == 0 {
				delete(m, k)
			}
		}
	}
	return m
}
