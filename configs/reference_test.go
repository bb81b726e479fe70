package configs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// yamlToJSON decodes YAML into JSON-compatible values.
func yamlToJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func compiledSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSONSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("mcp.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("mcp.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConfigsMatchSchema validates the reference config, every example and
// every test config that loads against mcp.schema.json, and checks that each
// example points editors at the schema.
func TestConfigsMatchSchema(t *testing.T) {
	schema := compiledSchema(t)
	files := []string{"reference.yaml"}
	examples, _ := filepath.Glob("../examples/*/mcp.yaml")
	if len(examples) == 0 {
		t.Fatal("no examples found")
	}
	files = append(files, examples...)
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte("# yaml-language-server: $schema=")) {
				t.Errorf("%s has no yaml-language-server comment pointing at the schema", f)
			}
			if err := schema.Validate(yamlToJSON(t, data)); err != nil {
				t.Errorf("%s does not match mcp.schema.json:\n%v", f, err)
			}
		})
	}
	// The schema refuses what Load refuses.
	if err := schema.Validate(yamlToJSON(t, []byte("tool: []\n"))); err == nil {
		t.Error("the schema accepts an unknown top-level key")
	}
}

// TestReferenceConfig loads configs/reference.yaml and checks that it names
// every key of the schema, so that new keys are documented there.
func TestReferenceConfig(t *testing.T) {
	if _, err := Load("reference.yaml", &Options{
		Environ:   func() []string { return nil },
		LookupEnv: func(string) (string, bool) { return "reference-secret", true },
	}); err != nil {
		t.Fatalf("reference.yaml does not load:\n%v", err)
	}
	data, err := os.ReadFile("reference.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(JSONSchema, &schema); err != nil {
		t.Fatal(err)
	}
	defs, _ := schema["$defs"].(map[string]any)
	have := map[string]bool{}
	// "#~" lines are alternatives (keys that exclude others): they count.
	collectKeys(yamlToJSON(t, bytes.ReplaceAll(data, []byte("\n#~"), []byte("\n"))), "", have)
	var missing []string
	var walk func(s map[string]any, path string, depth int)
	walk = func(s map[string]any, path string, depth int) {
		if depth > 8 {
			return
		}
		if ref, ok := s["$ref"].(string); ok {
			s, _ = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		}
		if all, ok := s["allOf"].([]any); ok && len(all) == 1 {
			s, _ = all[0].(map[string]any)
			walk(s, path, depth+1)
			return
		}
		if items, ok := s["items"].(map[string]any); ok {
			walk(items, path+"[]", depth+1)
		}
		if ap, ok := s["additionalProperties"].(map[string]any); ok {
			walk(ap, path+".*", depth+1)
		}
		props, _ := s["properties"].(map[string]any)
		for k, p := range props {
			kp := strings.TrimPrefix(path+"."+k, ".")
			if !have[kp] && !notThere[kp] {
				missing = append(missing, kp)
			}
			if ps, ok := p.(map[string]any); ok {
				walk(ps, kp, depth+1)
			}
		}
	}
	walk(schema, "", 0)
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("reference.yaml does not show these keys: %s", strings.Join(missing, ", "))
	}
}

// notThere are keys the schema has through a shared type but Load refuses
// in that place: a rate limit's scope exists on tools only.
var notThere = map[string]bool{"rate_limits.caller.scope": true, "rate_limits.client_ip.scope": true}

// collectKeys records the key paths present in a config: maps with
// user-chosen keys (upstreams, headers) appear as ".*", list elements as "[]".
func collectKeys(v any, path string, have map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			p := strings.TrimPrefix(path+"."+k, ".")
			have[p] = true
			collectKeys(e, p, have)
			// The same value under the wildcard, for maps keyed by names.
			collectKeys(e, path+".*", have)
			have[path+".*"] = true
		}
	case []any:
		for _, e := range v {
			collectKeys(e, path+"[]", have)
		}
	}
}
