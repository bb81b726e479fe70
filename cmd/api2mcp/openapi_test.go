package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cliSpec = `openapi: 3.0.3
info: { title: Pets, version: "2" }
servers: [{ url: "http://127.0.0.1:9" }]
paths:
  /pets/{id}:
    get:
      operationId: getPet
      summary: One pet
      parameters: [{ name: id, in: path, required: true, schema: { type: integer } }]
      responses: { "200": { description: ok } }
    trace:
      operationId: tracePet
      parameters: [{ name: id, in: path, required: true, schema: { type: integer } }]
      responses: { "200": { description: ok } }
`

func TestOpenAPICommand(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "pets.yaml")
	if err := os.WriteFile(spec, []byte(cliSpec), 0o644); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI(t, "openapi", spec)
	if code != 0 {
		t.Fatalf("openapi: exit %d, stderr:\n%s", code, stderr)
	}
	var list struct {
		Tools []struct{ Name string } `json:"tools"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || len(list.Tools) != 1 || list.Tools[0].Name != "getPet" {
		t.Errorf("tools = %s (%v), want getPet only", stdout, err)
	}
	if !strings.Contains(stderr, "1 tool, 1 skipped") || !strings.Contains(stderr, "TRACE /pets/{id} skipped: TRACE is not supported") {
		t.Errorf("stderr does not report the import and the skipped operation:\n%s", stderr)
	}

	// The skeleton is an mcp.yaml that validates as it is.
	code, stdout, stderr = runCLI(t, "openapi", spec, "--skeleton")
	if code != 0 {
		t.Fatalf("openapi --skeleton: exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{`url: "http://127.0.0.1:9"`, `#   getPet: { name: "getPet", hidden: false }   # GET /pets/{id} — One pet`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("skeleton lacks %q:\n%s", want, stdout)
		}
	}
	cfg := filepath.Join(dir, "mcp.yaml")
	if err := os.WriteFile(cfg, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "validate", "-c", cfg); code != 0 || !strings.Contains(out, "ok: 1 tool") {
		t.Errorf("validate of the skeleton: exit %d\n%s%s", code, out, stderr)
	}

	if code, _, stderr := runCLI(t, "openapi", filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(stderr, "reading spec") {
		t.Errorf("missing spec: exit %d, stderr %q; want 1 and the reason", code, stderr)
	}
	if code, _, _ := runCLI(t, "openapi"); code != 2 {
		t.Errorf("no spec: exit %d, want 2", code)
	}
}
