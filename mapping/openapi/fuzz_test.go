package openapi

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/api2mcp/api2mcp/mapping"
)

// FuzzImport feeds mutated specs to the importer: it must not panic or hang,
// and every tool it yields must compile.
//
//	go test -run '^$' -fuzz FuzzImport -fuzztime 60s ./mapping/openapi
func FuzzImport(f *testing.F) {
	files, _ := filepath.Glob("testdata/golden/*.yaml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"openapi":"3.1.0","paths":{"/a/{b}":{"get":{"parameters":[{"name":"b","in":"path","style":"matrix","explode":true,"schema":{"type":"object"}}]}}}}`))
	f.Add([]byte(`{"swagger":"2.0","paths":{"/x":{"post":{"parameters":[{"in":"body","name":"b","schema":{"$ref":"#/definitions/A"}}]}}},"definitions":{"A":{"properties":{"a":{"$ref":"#/definitions/A"}}}}}`))
	f.Add([]byte("openapi: 3.0.0\npaths:\n  /x:\n    post:\n      requestBody:\n        content:\n          application/x-www-form-urlencoded:\n            schema: {$ref: '#/components/schemas/A'}\ncomponents:\n  schemas:\n    A: {allOf: [{$ref: '#/components/schemas/A'}], properties: {a: {type: array}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		var res *Result
		go func() {
			defer close(done)
			res, _ = Import(data, &Options{Upstream: "api"})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Import did not return within 10s on %q", data)
		}
		if res == nil {
			return
		}
		for _, tool := range res.Tools {
			if _, err := mapping.Compile(tool.Spec); err != nil {
				t.Errorf("%s %q does not compile: %v", tool.Operation, tool.Spec.Name, err)
			}
		}
	})
}
