package mapping

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// props builds an object input schema from property schemas and the names
// of the required ones.
func props(properties map[string]any, required ...string) map[string]any {
	m := map[string]any{"type": "object", "properties": properties}
	if len(required) > 0 {
		r := make([]any, len(required))
		for i, s := range required {
			r[i] = s
		}
		m["required"] = r
	}
	return m
}

var (
	stringProp  = map[string]any{"type": "string"}
	integerProp = map[string]any{"type": "integer"}
)

// compileErrors returns the lines of Compile's error for spec.
func compileErrors(t *testing.T, spec Spec) []string {
	t.Helper()
	tool, err := Compile(spec)
	if err == nil {
		return nil
	}
	if tool != nil {
		t.Errorf("Compile returned both a tool and an error")
	}
	return strings.Split(err.Error(), "\n")
}

func TestCompileErrors(t *testing.T) {
	orgInput := props(map[string]any{"org": stringProp})
	tests := map[string]struct {
		spec Spec
		want []string
	}{
		"valid": {
			spec: Spec{Name: "list_issues", Upstream: "api", Path: "/orgs/{org}/issues", Input: props(map[string]any{"org": stringProp}, "org")},
		},
		"name with a space": {
			spec: Spec{Name: "list issues", Upstream: "api"},
			want: []string{`name: "list issues" must be 1 to 64 characters from [A-Za-z0-9_.-]`},
		},
		"name of 65 characters": {
			spec: Spec{Name: strings.Repeat("a", 65), Upstream: "api"},
			want: []string{`name: "` + strings.Repeat("a", 65) + `" must be 1 to 64 characters from [A-Za-z0-9_.-]`},
		},
		"name with dots and dashes": {
			spec: Spec{Name: "github.issues-list_v2", Upstream: "api"},
		},
		"missing upstream": {
			spec: Spec{Name: "t"},
			want: []string{"upstream: required"},
		},
		"bad method": {
			spec: Spec{Name: "t", Upstream: "api", Method: "FETCH"},
			want: []string{`method: "FETCH" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`},
		},
		"lower-case method": {
			spec: Spec{Name: "t", Upstream: "api", Method: "post"},
		},
		"array input root": {
			spec: Spec{Name: "t", Upstream: "api", Input: map[string]any{"type": "array"}},
			want: []string{`input: root type must be "object", not array`},
		},
		"invalid JSON Schema": {
			spec: Spec{Name: "t", Upstream: "api", Input: props(map[string]any{"n": map[string]any{"type": "integer", "minimum": "one"}})},
			want: []string{
				`input: invalid JSON Schema: "#" is not valid against metaschema: jsonschema validation failed with 'https://json-schema.org/draft/2020-12/schema#'`,
				"- at '': 'allOf' failed",
				"  - at '/properties/n': 'allOf' failed",
				"    - at '/properties/n/minimum': got string, want number",
			},
		},
		"external $ref": {
			spec: Spec{Name: "t", Upstream: "api", Input: props(map[string]any{"n": map[string]any{"$ref": "https://example.com/schema.json"}})},
			want: []string{`input: invalid JSON Schema: failing loading "https://example.com/schema.json": external $ref "https://example.com/schema.json" is not allowed`},
		},
		"expression syntax error": {
			spec: Spec{Name: "t", Upstream: "api", Input: orgInput, Query: map[string]string{"org": "args.org +"}},
			want: []string{
				"query.org: unexpected token EOF (line 1, column 10)",
				" | args.org +",
				" | .........^",
			},
		},
		"undeclared argument with a closed schema": {
			spec: Spec{Name: "t", Upstream: "api", Input: orgInput, Query: map[string]string{"org": "args.orgg"}},
			want: []string{
				`query.org: unknown argument "orgg" (not in input.properties) (line 1, column 6)`,
				" | args.orgg",
				" | .....^",
			},
		},
		"undeclared argument on the second line": {
			spec: Spec{Name: "t", Upstream: "api", Input: orgInput, Headers: map[string]string{"X-Org": "args.org ??\n  args[\"orgg\"]"}},
			want: []string{
				`headers.X-Org: unknown argument "orgg" (not in input.properties) (line 2, column 8)`,
				` |   args["orgg"]`,
				" | .......^",
			},
		},
		"undeclared argument with an open schema": {
			spec: Spec{Name: "t", Upstream: "api", Input: map[string]any{"additionalProperties": true}, Query: map[string]string{"org": "args.orgg"}},
		},
		"unknown function": {
			spec: Spec{Name: "t", Upstream: "api", Query: map[string]string{"home": `getenv("HOME")`}},
			want: []string{
				"query.home: unknown name getenv (line 1, column 1)",
				` | getenv("HOME")`,
				" | ^",
			},
		},
		"empty expression": {
			spec: Spec{Name: "t", Upstream: "api", Query: map[string]string{"q": " "}},
			want: []string{"query.q: empty expression"},
		},
		"body on a GET": {
			spec: Spec{Name: "t", Upstream: "api", Body: "args"},
			want: []string{"body: a GET request has no body"},
		},
		"body field that is not an expression": {
			spec: Spec{Name: "t", Upstream: "api", Method: "POST", Body: map[string]any{"n": 3}},
			want: []string{"body.n: want an expression string, got a number 3 (quote it in YAML)"},
		},
		"Host header mapped": {
			spec: Spec{Name: "t", Upstream: "api", Headers: map[string]string{"host": `"evil.example"`}},
			want: []string{"headers.host: Host is set by the HTTP client and cannot be mapped"},
		},
		"Content-Length header mapped": {
			spec: Spec{Name: "t", Upstream: "api", Headers: map[string]string{"Content-Length": `"1"`}},
			want: []string{"headers.Content-Length: Content-Length is set by the HTTP client and cannot be mapped"},
		},
		"bad header name": {
			spec: Spec{Name: "t", Upstream: "api", Headers: map[string]string{"X Org": `"a"`}},
			want: []string{`headers.X Org: "X Org" is not a valid header name`},
		},
		"path without a leading slash": {
			spec: Spec{Name: "t", Upstream: "api", Path: "pets"},
			want: []string{`path: "pets" must start with /`},
		},
		"path with a query": {
			spec: Spec{Name: "t", Upstream: "api", Path: "/pets?status=sold"},
			want: []string{`path: "/pets?status=sold" must not contain ? or # (map query parameters under query:)`},
		},
		"path with an unclosed placeholder": {
			spec: Spec{Name: "t", Upstream: "api", Path: "/pets/{id", Input: props(map[string]any{"id": stringProp}, "id")},
			want: []string{`path: unclosed { in "/pets/{id"`},
		},
		"path placeholder of type null": {
			spec: Spec{Name: "t", Upstream: "api", Path: "/pets/{id}", Input: props(map[string]any{"id": map[string]any{"type": "null"}}, "id")},
			want: []string{`path: parameter "id" has type null; a path segment needs a value`},
		},
		"every problem at once": {
			spec: Spec{Name: "", Method: "BREW", Input: map[string]any{"type": "string"}, Query: map[string]string{"q": "1 +"}},
			want: []string{
				`name: "" must be 1 to 64 characters from [A-Za-z0-9_.-]`,
				"upstream: required",
				`method: "BREW" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`,
				`input: root type must be "object", not string`,
				"query.q: unexpected token EOF (line 1, column 3)",
				" | 1 +",
				" | ..^",
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, compileErrors(t, tt.spec)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// Every problem is a *FieldError, so that package configs can prefix it with
// the tool's path.
func TestCompileFieldErrors(t *testing.T) {
	_, err := Compile(Spec{Name: "bad name", Method: "BREW"})
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Compile error %T is not a joined error", err)
	}
	var fields []string
	for _, e := range j.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Errorf("error %q is not a *FieldError", e)
			continue
		}
		fields = append(fields, fe.Field)
	}
	if diff := cmp.Diff([]string{"name", "upstream", "method"}, fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestDescriptor(t *testing.T) {
	yes := true
	tests := map[string]struct {
		spec Spec
		want Descriptor
	}{
		"GET: read-only, closed schema, type added": {
			spec: Spec{Name: "get_pet", Title: "Get pet", Description: "Get one pet.", Upstream: "api", Input: map[string]any{"properties": map[string]any{"id": integerProp}}},
			want: Descriptor{
				Name: "get_pet", Title: "Get pet", Description: "Get one pet.",
				InputSchema: json.RawMessage(`{"additionalProperties":false,"properties":{"id":{"type":"integer"}},"type":"object"}`),
				Hints:       Hints{ReadOnly: true, Idempotent: true},
			},
		},
		"no input": {
			spec: Spec{Name: "ping", Upstream: "api", Method: "POST"},
			want: Descriptor{
				Name:        "ping",
				InputSchema: json.RawMessage(`{"additionalProperties":false,"properties":{},"type":"object"}`),
			},
		},
		"DELETE: destructive and idempotent": {
			spec: Spec{Name: "del", Upstream: "api", Method: "DELETE"},
			want: Descriptor{
				Name:        "del",
				InputSchema: json.RawMessage(`{"additionalProperties":false,"properties":{},"type":"object"}`),
				Hints:       Hints{Destructive: true, Idempotent: true},
			},
		},
		"PATCH with overrides": {
			spec: Spec{Name: "patch", Upstream: "api", Method: "PATCH", Annotations: Annotations{Idempotent: &yes, OpenWorld: &yes}},
			want: Descriptor{
				Name:        "patch",
				InputSchema: json.RawMessage(`{"additionalProperties":false,"properties":{},"type":"object"}`),
				Hints:       Hints{Destructive: true, Idempotent: true, OpenWorld: &yes},
			},
		},
		"open schema kept open": {
			spec: Spec{Name: "open", Upstream: "api", Input: map[string]any{"additionalProperties": true}},
			want: Descriptor{
				Name:        "open",
				InputSchema: json.RawMessage(`{"additionalProperties":true,"properties":{},"type":"object"}`),
				Hints:       Hints{ReadOnly: true, Idempotent: true},
			},
		},
		"large integer default shown exactly": {
			spec: Spec{Name: "big", Upstream: "api", Input: map[string]any{"properties": map[string]any{"n": map[string]any{"type": "integer", "default": 9007199254740993}}}},
			want: Descriptor{
				Name:        "big",
				InputSchema: json.RawMessage(`{"additionalProperties":false,"properties":{"n":{"default":9007199254740993,"type":"integer"}},"type":"object"}`),
				Hints:       Hints{ReadOnly: true, Idempotent: true},
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tool, err := Compile(tt.spec)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got := tool.Descriptor()
			got.InputSchema = compactJSON(t, got.InputSchema)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Descriptor (-want +got):\n%s", diff)
			}
		})
	}
}

func compactJSON(t *testing.T, b []byte) json.RawMessage {
	t.Helper()
	var v any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Expressions see args and claims only: nothing reaches the process
// environment.
func TestCompileNoProcessEnvironment(t *testing.T) {
	for _, src := range []string{`$env.HOME`, `$env["PATH"]`, `env.HOME`, `getenv("HOME")`, `os.Getenv("HOME")`} {
		t.Run(src, func(t *testing.T) {
			if _, err := Compile(Spec{Name: "t", Upstream: "api", Query: map[string]string{"q": src}}); err == nil {
				t.Errorf("Compile(%s) succeeded, want an unknown-name error", src)
			}
		})
	}
}
