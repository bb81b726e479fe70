package mapping

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/builtin"
	"github.com/google/go-cmp/cmp"
)

// compileLibrary compiles src as the mapping code does: against RequestEnv,
// with the library.
func compileLibrary(src string) (func(*RequestEnv) (any, error), error) {
	opts := append([]expr.Option{expr.Env(RequestEnv{}), expr.MaxNodes(maxExprNodes)}, libraryOptions()...)
	p, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, err
	}
	return func(env *RequestEnv) (any, error) { return expr.Run(p, env) }, nil
}

// decodeJSONText decodes JSON text for comparison.
func decodeJSONText(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("invalid JSON %s: %v", s, err)
	}
	return v
}

// TestFuncExamples runs every example of the doc table, so that the
// documentation cannot drift from the code.
func TestFuncExamples(t *testing.T) {
	for _, f := range functions {
		for _, ex := range f.Examples {
			t.Run(f.Name+"/"+ex.Expr, func(t *testing.T) {
				run, err := compileLibrary(ex.Expr)
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				got, err := run(exampleEnv())
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				b, err := json.Marshal(got)
				if err != nil {
					t.Fatalf("result %#v is not JSON: %v", got, err)
				}
				if diff := cmp.Diff(decodeJSONText(t, ex.Result), decodeJSONText(t, string(b))); diff != "" {
					t.Errorf("%s = %s, want %s (-want +got):\n%s", ex.Expr, b, ex.Result, diff)
				}
			})
		}
	}
}

func TestFuncDocs(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range functions {
		if seen[f.Name] {
			t.Errorf("%s: documented twice", f.Name)
		}
		seen[f.Name] = true
		if len(f.Examples) == 0 {
			t.Errorf("%s: no examples", f.Name)
		}
		if !strings.HasPrefix(f.Signature, f.Name+"(") {
			t.Errorf("%s: signature %q does not start with %s(", f.Name, f.Signature, f.Name)
		}
		if f.Description == "" {
			t.Errorf("%s: no description", f.Name)
		}
		if f.fn == nil || len(f.types) == 0 {
			t.Errorf("%s: no implementation or no typed signature", f.Name)
		}
		for _, ex := range f.Examples {
			if !strings.Contains(ex.Expr, f.Name+"(") {
				t.Errorf("%s: example %q does not call it", f.Name, ex.Expr)
			}
			if !json.Valid([]byte(ex.Result)) {
				t.Errorf("%s: example %q: result %q is not JSON", f.Name, ex.Expr, ex.Result)
			}
		}
	}
}

// TestLibraryBuiltins checks that a function shadows an expr builtin only
// when it says so (and is then registered with the builtin disabled), so a
// new expr builtin of the same name cannot be hidden by accident.
func TestLibraryBuiltins(t *testing.T) {
	for _, f := range functions {
		_, isBuiltin := builtin.Index[f.Name]
		if isBuiltin != f.Replaces {
			t.Errorf("%s: expr builtin = %v, Replaces = %v", f.Name, isBuiltin, f.Replaces)
		}
	}
}

func TestFuncErrors(t *testing.T) {
	tests := map[string]struct {
		expr       string
		compileErr string // substring of the compile error
		runErr     string // substring of the run error
	}{
		"string function given a number":    {expr: `urlEncode(1)`, compileErr: "cannot use int as argument (type string) to call urlEncode"},
		"missing argument":                  {expr: `camelCase()`, compileErr: "not enough arguments to call camelCase"},
		"too many arguments":                {expr: `default(1, 2, 3)`, compileErr: "too many arguments to call default"},
		"pick of a literal string":          {expr: `pick("s", "a")`, compileErr: "to call pick"},
		"pick with a number key":            {expr: `pick(args.obj, 1)`, compileErr: "to call pick"},
		"layout not a string":               {expr: `formatTime(1, 2)`, compileErr: "to call formatTime"},
		"merge of a literal string":         {expr: `merge({}, "a")`, compileErr: "to call merge"},
		"repeat count not an int":           {expr: `repeat("x", "3")`, compileErr: "to call repeat"},
		"parseTime result is a time":        {expr: `parseTime("2024-05-06", "DateOnly") + 1`, compileErr: "invalid operation"},
		"string function given an arg":      {expr: `camelCase(args.n)`, runErr: "camelCase: want a string, got number"},
		"pick of a string":                  {expr: `pick(args.name, "a")`, runErr: "pick: want an object, got string"},
		"pick with an array of numbers":     {expr: `pick(args.obj, [1])`, runErr: "pick: key 1 is number, want a string"},
		"omit with a number key":            {expr: `omit(args.obj, "a", args.n)`, runErr: "omit: key 2 is number, want a string"},
		"merge of a string":                 {expr: `merge(args.obj, args.name)`, runErr: "merge: argument 2 is string, want an object"},
		"bad escape":                        {expr: `urlDecode("%zz")`, runErr: `urlDecode: invalid URL escape "%zz"`},
		"bad base64":                        {expr: `fromBase64URL("a+b/")`, runErr: "fromBase64URL: illegal base64 data at input byte 1"},
		"time not RFC 3339":                 {expr: `formatTime("yesterday", "DateOnly")`, runErr: "formatTime: want an RFC 3339 time"},
		"time of an object":                 {expr: `formatTime(args.obj, "DateOnly")`, runErr: "formatTime: want a time, an RFC 3339 string or unix seconds, got object"},
		"misspelt layout name":              {expr: `formatTime(0, "RFC3399")`, runErr: `formatTime: layout "RFC3399" is neither a Go layout`},
		"misspelt layout name when parsing": {expr: `parseTime("x", "dateOnly")`, runErr: `parseTime: layout "dateOnly" is neither a Go layout`},
		"unix time not an integer":          {expr: `parseTime("soon", "unix")`, runErr: "parseTime: want an integer for layout unix, got string"},
		"time does not match layout":        {expr: `parseTime("2024-13-01", "DateOnly")`, runErr: "parseTime: parsing time \"2024-13-01\": month out of range"},
		"negative repeat":                   {expr: `repeat("x", -1)`, runErr: "repeat: negative count -1"},
		"repeat count from a string arg":    {expr: `repeat("x", args.name)`, runErr: "repeat: want an integer count, got string"},
		"join of an object":                 {expr: `join(args.obj)`, runErr: "join: want an array of strings, got object"},
		"join of numbers":                   {expr: `join([1, 2], ",")`, runErr: "join: element 0 is number, want a string"},
		"replace count from a string arg":   {expr: `replace("a", "a", "b", args.name)`, runErr: "replace: want an integer count, got string"},
		"toJSON of a NaN":                   {expr: `toJSON(0.0 / 0.0)`, runErr: "toJSON: json: unsupported value: NaN"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			run, err := compileLibrary(tt.expr)
			if tt.compileErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.compileErr) {
					t.Fatalf("compile %s: error %v, want one containing %q", tt.expr, err, tt.compileErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("compile %s: %v", tt.expr, err)
			}
			got, err := run(exampleEnv())
			if err == nil || !strings.Contains(err.Error(), tt.runErr) {
				t.Fatalf("run %s = %#v, error %v, want an error containing %q", tt.expr, got, err, tt.runErr)
			}
		})
	}
}

// TestFuncCaseWords covers word splitting beyond the documented examples.
func TestFuncCaseWords(t *testing.T) {
	tests := map[string]struct {
		in                         string
		camel, snake, kebab, title string
	}{
		"empty":             {in: "", camel: "", snake: "", kebab: "", title: ""},
		"only separators":   {in: " -_. ", camel: "", snake: "", kebab: "", title: ""},
		"already camel":     {in: "userId", camel: "userId", snake: "user_id", kebab: "user-id", title: "User Id"},
		"pascal":            {in: "UserProfile", camel: "userProfile", snake: "user_profile", kebab: "user-profile", title: "User Profile"},
		"acronym then word": {in: "HTTPServer", camel: "httpServer", snake: "http_server", kebab: "http-server", title: "HTTP Server"},
		"digits":            {in: "v2Beta item3", camel: "v2BetaItem3", snake: "v2_beta_item3", kebab: "v2-beta-item3", title: "V2 Beta Item3"},
		"screaming snake":   {in: "MAX_PAGE_SIZE", camel: "maxPageSize", snake: "max_page_size", kebab: "max-page-size", title: "MAX PAGE SIZE"},
		"unicode":           {in: "crème brûlée", camel: "crèmeBrûlée", snake: "crème_brûlée", kebab: "crème-brûlée", title: "Crème Brûlée"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := map[string]string{}
			want := map[string]string{"camelCase": tt.camel, "snakeCase": tt.snake, "kebabCase": tt.kebab, "titleCase": tt.title}
			for fn := range want {
				run, err := compileLibrary(fn + "(args.s)")
				if err != nil {
					t.Fatal(err)
				}
				v, err := run(&RequestEnv{Args: map[string]any{"s": tt.in}})
				if err != nil {
					t.Fatalf("%s(%q): %v", fn, tt.in, err)
				}
				got[fn] = v.(string)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%q (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// nestedArrays returns depth arrays nested in one another around leaf.
func nestedArrays(depth int, leaf any) any {
	v := leaf
	for range depth {
		v = []any{v}
	}
	return v
}

func TestBoundedEvaluation(t *testing.T) {
	kib := strings.Repeat("k", 1024)
	env := &RequestEnv{Args: map[string]any{
		"kib":     kib,
		"big":     strings.Repeat("a", 2<<20),
		"huge":    1_000_000_000,
		"deep":    nestedArrays(1000, 0),
		"shallow": nestedArrays(100, 0),
	}}
	tests := map[string]struct {
		expr    string
		want    string // JSON
		wantErr string
	}{
		"repeat up to 1 MiB":       {expr: `len(repeat("x", 1048576))`, want: `1048576`},
		"repeat over 1 MiB":        {expr: `repeat("x", 1048577)`, wantErr: "repeat: 1048577 copies of 1 bytes would exceed the limit of 1 MiB"},
		"repeat of a long arg":     {expr: `repeat(args.kib, 1000000)`, wantErr: "repeat: 1000000 copies of 1024 bytes would exceed the limit of 1 MiB"},
		"repeat count overflowing": {expr: `repeat("xx", 9223372036854775807)`, wantErr: "would exceed the limit of 1 MiB"},
		"builtin syntax ::repeat":  {expr: `::repeat("x", 1048577)`, wantErr: "repeat: 1048577 copies"},
		"repeat piped":             {expr: `"x" | repeat(1048577)`, wantErr: "repeat: 1048577 copies"},

		"replace growing past 1 MiB": {expr: `replace(args.kib, "", args.kib)`, wantErr: "replace: 1025 replacements would grow 1024 bytes past the limit of 1 MiB"},
		"replace growing a little":   {expr: `len(replace(args.kib, "", "y"))`, want: `2049`},
		"replace counted up to n":    {expr: `len(replace(args.kib, "k", args.kib, 10))`, want: `11254`},
		"replace of a long string":   {expr: `len(replace(args.big, "a", "b"))`, want: `2097152`},
		"replace growing a long one": {expr: `replace(args.big, "a", "bb", 1)`, wantErr: "replace: 1 replacements would grow 2097152 bytes past the limit of 1 MiB"},

		"join with a long glue": {expr: `join(map(1..2000, ""), args.kib)`, wantErr: "join: 1999 separators of 1024 bytes would exceed the limit of 1 MiB"},
		"join of long strings":  {expr: `len(join([args.big, args.big], ","))`, want: `4194305`},

		"toJSON of deep nesting":    {expr: `toJSON(args.deep)`, wantErr: "toJSON: indenting 2001 bytes of JSON would add more than the limit of 1 MiB"},
		"toJSON of shallow nesting": {expr: `len(toJSON(args.shallow))`, want: `20401`},

		"range of literals":       {expr: `1..1000000000`, wantErr: "memory budget exceeded"},
		"range from an argument":  {expr: `len(1..args.huge)`, wantErr: "memory budget exceeded"},
		"map over a range":        {expr: `map(1..args.huge, # * 2)`, wantErr: "memory budget exceeded"},
		"range within the budget": {expr: `len(1..1000)`, want: `1000`},
		"nested ranges add up":    {expr: `map(1..1000, len(1..1000))`, wantErr: "memory budget exceeded"},
		"repeat inside let":       {expr: `let s = repeat("x", 1048577); len(s)`, wantErr: "repeat: 1048577 copies"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			run, err := compileLibrary(tt.expr)
			if err != nil {
				t.Fatalf("compile %s: %v", tt.expr, err)
			}
			got, err := run(env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("%s: error %v, want one containing %q", tt.expr, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.expr, err)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(decodeJSONText(t, tt.want), decodeJSONText(t, string(b))); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.expr, diff)
			}
		})
	}
}

// TestBoundedToJSON checks that the bounded toJSON writes exactly what expr's
// builtin (json.MarshalIndent) writes and that its size prediction is exact.
func TestBoundedToJSON(t *testing.T) {
	tests := map[string]any{
		"nil":                 nil,
		"number":              1.5,
		"string with escapes": "a\"b\\c\n{[,:]}<&>é",
		"empty object":        map[string]any{},
		"empty array":         []any{},
		"nested empties":      map[string]any{"a": []any{}, "b": map[string]any{}, "c": []any{[]any{}, map[string]any{}}},
		"object":              map[string]any{"name": "Rex", "tags": []any{"a", "b"}, "n": 3, "obj": map[string]any{"x": nil, "y": true}},
		"keys with brackets":  map[string]any{"[": "]", "{\"": "\\", ",": ":"},
		"deep":                nestedArrays(30, map[string]any{"k": []any{1, 2}}),
	}
	for name, v := range tests {
		t.Run(name, func(t *testing.T) {
			want, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			compact, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if got := indentedSize(compact, 2); got != len(want) {
				t.Errorf("indentedSize = %d, want %d", got, len(want))
			}
			got, err := toJSONFunc(v)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("toJSON (-want +got):\n%s", diff)
			}
		})
	}
}
