package configs

import (
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite mcp.schema.json from the Go types")

// TestSchemaIsGenerated regenerates the JSON Schema of mcp.yaml from the Go
// types (structure from reflection, descriptions from doc comments) and
// compares it with the committed mcp.schema.json.
func TestSchemaIsGenerated(t *testing.T) {
	docs := fieldDocs(t, ".", "../mapping", "../authn")
	g := &schemaGen{docs: docs, defs: map[string]any{}}
	root := g.object(reflect.TypeFor[File]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://api2mcp.dev/mcp.schema.json"
	root["title"] = "api2mcp configuration (mcp.yaml)"
	root["$defs"] = g.defs
	got, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile("mcp.schema.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(string(JSONSchema), string(got)); diff != "" {
		t.Errorf("mcp.schema.json is stale; run go test ./configs -run Schema -update (-committed +generated):\n%s", diff)
	}
}

// fieldDocs maps "package.Type.Field" to the field's doc comment, from the
// Go sources of the given package directories.
func fieldDocs(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range dirs {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for pkgName, pkg := range pkgs {
			for _, f := range pkg.Files {
				ast.Inspect(f, func(n ast.Node) bool {
					ts, ok := n.(*ast.TypeSpec)
					if !ok {
						return true
					}
					st, ok := ts.Type.(*ast.StructType)
					if !ok {
						return true
					}
					for _, fld := range st.Fields.List {
						for _, name := range fld.Names {
							if fld.Doc != nil {
								out[pkgName+"."+ts.Name.Name+"."+name.Name] = oneParagraph(fld.Doc.Text())
							}
						}
					}
					return true
				})
			}
		}
	}
	return out
}

func oneParagraph(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

type schemaGen struct {
	docs map[string]string
	defs map[string]any
}

var durationType2 = reflect.TypeFor[time.Duration]()

// schema returns the JSON Schema of a Go type as koanf decodes it.
func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == durationType2:
		return map[string]any{"type": "string", "pattern": `^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$`, "description": "A duration such as 10s, 1m30s or 250ms."}
	case t.Kind() == reflect.Pointer:
		return g.schema(t.Elem())
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return map[string]any{"type": "object"} // a JSON Schema or free data
		}
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{"type": []any{"string", "object"}}
	case reflect.Struct:
		name := typeKey(t)
		if _, done := g.defs[name]; !done {
			g.defs[name] = nil // breaks cycles
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	return map[string]any{}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("koanf")
		if key == "" || key == "-" {
			continue
		}
		s := g.schema(f.Type)
		if d := g.docs[typeKey(t)+"."+f.Name]; d != "" {
			if _, isRef := s["$ref"]; isRef {
				s = map[string]any{"allOf": []any{s}, "description": d}
			} else {
				s["description"] = d
			}
		}
		props[key] = s
	}
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
}

// typeKey names a struct type by package and name (mapping.Spec and
// authn.Spec are different types).
func typeKey(t reflect.Type) string {
	return path.Base(t.PkgPath()) + "." + t.Name()
}
