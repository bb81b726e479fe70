package mapping

import (
	"encoding/json"
	"net/http"
	"testing"
)

// The per-call costs of the mapping layer, without network:
//
//	go test ./mapping -run '^$' -bench . -benchmem
func benchTool(b *testing.B, spec Spec) *Tool {
	b.Helper()
	spec.Name, spec.Upstream = "t", "api"
	t, err := Compile(spec)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

var benchInput = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"id":     map[string]any{"type": "integer", "minimum": 1},
		"status": map[string]any{"type": "string", "enum": []any{"available", "pending", "sold"}, "default": "available"},
		"limit":  map[string]any{"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
		"tags":   map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
	},
	"required": []any{"id"},
}

var benchArgs = json.RawMessage(`{"id":42,"status":"sold","tags":["dog","cat"]}`)

func BenchmarkBuildRequestDefaultGET(b *testing.B) {
	t := benchTool(b, Spec{Path: "/pets/{id}", Input: benchInput})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.BuildRequest(benchArgs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildRequestMapped(b *testing.B) {
	t := benchTool(b, Spec{Path: "/pets/{id}", Input: benchInput,
		Query:   map[string]string{"status": "args.status", "limit": "args.limit", "tag": "args.tags"},
		Headers: map[string]string{"X-Request-Tag": `"pet-" + string(args.id)`}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.BuildRequest(benchArgs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildRequestJSONBody(b *testing.B) {
	t := benchTool(b, Spec{Method: "POST", Path: "/pets/{id}", Input: benchInput,
		Body: map[string]any{"status": "args.status", "tags": "args.tags ?? []", "limit": "args.limit"}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.BuildRequest(benchArgs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	benchHeader = http.Header{"Content-Type": {"application/json"}}
	benchBody   = []byte(`{"id":42,"name":"Rex","status":"sold","tags":["dog","cat"],"owner":{"id":7,"name":"Ann"}}`)
)

func BenchmarkShapeResponsePassThrough(b *testing.B) {
	t := benchTool(b, Spec{})
	b.ReportAllocs()
	for b.Loop() {
		if r := t.ShapeResponse(nil, 200, benchHeader, benchBody); r.IsError {
			b.Fatal(r.Text)
		}
	}
}

func BenchmarkShapeResponseResultExpr(b *testing.B) {
	t := benchTool(b, Spec{Response: ResponseSpec{Result: `{id: body.id, name: body.name, owner: body.owner.name}`}})
	b.ReportAllocs()
	for b.Loop() {
		if r := t.ShapeResponse(nil, 200, benchHeader, benchBody); r.IsError {
			b.Fatal(r.Text)
		}
	}
}

func BenchmarkShapeResponseError(b *testing.B) {
	t := benchTool(b, Spec{})
	body := []byte(`{"error":{"code":"not_found","message":"pet 42 not found"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if r := t.ShapeResponse(nil, 404, benchHeader, body); !r.IsError {
			b.Fatal("want an error")
		}
	}
}

// largeBody is a 32 KiB pretty-printed list, as list endpoints send.
var largeBody = func() []byte {
	var items []map[string]any
	for i := 0; ; i++ {
		items = append(items, map[string]any{"id": i, "name": "Rex", "status": "available", "tags": []string{"dog", "good"}, "owner": map[string]any{"id": 7, "name": "Ann"}})
		if b, _ := json.MarshalIndent(items, "", "  "); len(b) >= 32<<10 {
			return b
		}
	}
}()

// BenchmarkShapeResponseResultExprLarge trims each item of a 32 KiB list to
// two fields: the whole body is decoded for the expression.
func BenchmarkShapeResponseResultExprLarge(b *testing.B) {
	t := benchTool(b, Spec{Response: ResponseSpec{Result: `map(body, pick(#, "id", "name"))`}})
	b.SetBytes(int64(len(largeBody)))
	b.ReportAllocs()
	for b.Loop() {
		if r := t.ShapeResponse(nil, 200, benchHeader, largeBody); r.IsError {
			b.Fatal(r.Text)
		}
	}
}

// BenchmarkShapeResponsePassThroughLarge is the same list passed through.
func BenchmarkShapeResponsePassThroughLarge(b *testing.B) {
	t := benchTool(b, Spec{})
	b.SetBytes(int64(len(largeBody)))
	b.ReportAllocs()
	for b.Loop() {
		if r := t.ShapeResponse(nil, 200, benchHeader, largeBody); r.IsError {
			b.Fatal(r.Text)
		}
	}
}
