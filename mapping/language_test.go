package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestQueryStyles(t *testing.T) {
	input := map[string]any{"type": "object", "properties": map[string]any{"v": map[string]any{}}}
	arr := `{"v":["a b","c",3]}`
	obj := `{"v":{"k":"x y","n":2}}`
	tests := map[string]struct {
		style, args, want string
	}{
		"repeat array (default)":   {"", arr, "v=a b&v=c&v=3"},
		"repeat object as JSON":    {"", obj, `v={"k":"x y","n":2}`},
		"comma array":              {"comma", arr, "v=a b,c,3"},
		"comma object":             {"comma", obj, "v=k,x y,n,2"},
		"space array":              {"space", arr, "v=a b c 3"},
		"pipe array":               {"pipe", arr, "v=a b|c|3"},
		"json array":               {"json", arr, `v=["a b","c",3]`},
		"deepObject":               {"deepObject", obj, "v[k]=x y&v[n]=2"},
		"explode object":           {"explode", obj, "k=x y&n=2"},
		"scalars ignore the style": {"comma", `{"v":true}`, "v=true"},
		"nil dropped":              {"comma", `{"v":null}`, ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			spec := Spec{Name: "t", Upstream: "api", Input: input, Query: map[string]string{"v": "args.v"}}
			if tt.style != "" {
				spec.QueryStyle = map[string]string{"v": tt.style}
			}
			r, err := mustCompile(t, spec).BuildRequest(json.RawMessage(tt.args), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := url.QueryUnescape(r.Query)
			if got != tt.want {
				t.Errorf("query %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFormAndMultipart(t *testing.T) {
	input := map[string]any{"type": "object", "additionalProperties": true}
	form := mustCompile(t, Spec{Name: "t", Upstream: "api", Method: "POST", Input: input,
		Form:      map[string]string{"amount": "args.amount", "meta": "args.meta", "tags": "args.tags", "skip": "nil", "ids": "args.ids"},
		FormStyle: map[string]string{"ids": "comma"}})
	r, err := form.BuildRequest(json.RawMessage(`{"amount":12,"meta":{"a":{"b":[1,2]}},"tags":["x","y"],"ids":[1,2]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := url.QueryUnescape(string(r.Body))
	if want := "amount=12&ids=1,2&meta[a][b][0]=1&meta[a][b][1]=2&tags=x&tags=y"; body != want || r.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("form body %q (%s), want %q", body, r.ContentType, want)
	}

	mp := mustCompile(t, Spec{Name: "t", Upstream: "api", Method: "POST", Input: input,
		Multipart: map[string]string{"doc": `file(args.data, "a.txt", "text/plain")`, "tags": "args.tags", "n": "7"}})
	r, err = mp.BuildRequest(json.RawMessage(`{"data":"hello","tags":["x","y"]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://x", strings.NewReader(string(r.Body)))
	req.Header.Set("Content-Type", r.ContentType)
	if err := req.ParseMultipartForm(1 << 20); err != nil {
		t.Fatal(err)
	}
	if got := req.MultipartForm.Value; !cmp.Equal(got, map[string][]string{"n": {"7"}, "tags": {"x", "y"}}) {
		t.Errorf("multipart values %v", got)
	}
	fh := req.MultipartForm.File["doc"]
	if len(fh) != 1 || fh[0].Filename != "a.txt" || fh[0].Header.Get("Content-Type") != "text/plain" || fh[0].Size != 5 {
		t.Errorf("multipart file %+v", fh)
	}
}

func TestValidationRules(t *testing.T) {
	tool := mustCompile(t, Spec{Name: "t", Upstream: "api",
		Input: map[string]any{"type": "object", "properties": map[string]any{
			"limit": map[string]any{"type": "integer", "default": 10},
			"state": map[string]any{"type": "string", "default": "open"},
		}},
		Validate: []Rule{
			{Rule: `args.limit <= 50 || args.state != "all"`, Message: "at most 50 when state is all"},
			{Rule: `args.limit > 0`, Message: "limit must be positive"},
		}})
	tests := map[string]struct {
		args string
		want []string
	}{
		"defaults pass":      {`{}`, nil},
		"one rule fails":     {`{"limit":100,"state":"all"}`, []string{"at most 50 when state is all"}},
		"every rule failing": {`{"limit":-1,"state":"all"}`, []string{"limit must be positive"}},
		"both":               {`{"limit":0}`, []string{"limit must be positive"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := tool.BuildRequest(json.RawMessage(tt.args), nil)
			var got []string
			if ae, ok := err.(*ArgumentError); ok {
				got = ae.Problems
			} else if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileLanguageErrors(t *testing.T) {
	tests := map[string]struct {
		spec Spec
		want string
	}{
		"two bodies":           {Spec{Method: "POST", Body: "args", Form: map[string]string{"a": "1"}}, "form: a tool has one body: body and form cannot both be set"},
		"form on GET":          {Spec{Form: map[string]string{"a": "1"}}, "form: a GET request has no body"},
		"unknown style":        {Spec{Query: map[string]string{"a": "1"}, QueryStyle: map[string]string{"a": "csv"}}, `query_style.a: "csv" is not a style`},
		"style of nothing":     {Spec{Query: map[string]string{"a": "1"}, QueryStyle: map[string]string{"b": "comma"}}, "query_style.b: names no parameter of this tool"},
		"rule without message": {Spec{Validate: []Rule{{Rule: "true"}}}, "validate[0].message: required"},
		"rule not boolean":     {Spec{Validate: []Rule{{Rule: `"yes"`, Message: "m"}}}, "validate[0].rule: expected bool"},
		"text not a string":    {Spec{Response: ResponseSpec{Text: "len(body)"}}, "response.text: expected string"},
		"error not a string":   {Spec{Response: ResponseSpec{Error: "status"}}, "response.error: expected string"},
		"result syntax":        {Spec{Response: ResponseSpec{Result: "body["}}, "response.result: unexpected token EOF (line 1, column 5)"},
		"output not an object": {Spec{OutputSchema: map[string]any{"type": "array"}}, `output_schema: root type must be "object"`},
		"negative max result":  {Spec{MaxResultBytes: -1}, "max_result_bytes: must not be negative"},
		"bad multipart name":   {Spec{Method: "POST", Multipart: map[string]string{`a"b`: "1"}}, `multipart.a"b: "a\"b" is not a valid field name`},
		"undeclared arg in response": {Spec{Input: map[string]any{"properties": map[string]any{"a": map[string]any{}}}, Response: ResponseSpec{Result: "args.b"}},
			`response.result: unknown argument "b"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tt.spec.Name, tt.spec.Upstream = "t", "api"
			_, err := Compile(tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestShapeWithExpressions(t *testing.T) {
	jsonHeader := http.Header{"Content-Type": {"application/json"}, "X-Total-Count": {"42"}}
	input := map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}
	tests := map[string]struct {
		spec   Spec
		status int
		body   string
		want   result
	}{
		"result and text from body, headers and args": {
			spec:   Spec{Response: ResponseSpec{Result: `{names: map(body, .name), total: int(headers["x-total-count"])}`, Text: `args.q + ": " + join(map(body, .name), ", ")`}},
			status: 200, body: `[{"name":"a"},{"name":"b"}]`,
			want: result{Text: "pets: a, b", Structured: `{"names":["a","b"],"total":42}`},
		},
		"result that is not an object is wrapped": {
			spec:   Spec{Response: ResponseSpec{Result: `map(body, .name)`}},
			status: 200, body: `[{"name":"a"}]`,
			want: result{Text: `["a"]`, Structured: `{"result":["a"]}`},
		},
		"an empty concatenation is null, as encoding/json writes a nil list": {
			spec:   Spec{Response: ResponseSpec{Result: `{a: concat(body.x, body.y), b: concat(body.x, [1])}`}},
			status: 200, body: `{"x":[],"y":[]}`,
			want: result{Text: `{"a":null,"b":[1]}`, Structured: `{"a":null,"b":[1]}`},
		},
		"big integers stay exact through expressions": {
			spec:   Spec{Response: ResponseSpec{Result: `{id: body.id}`}},
			status: 200, body: `{"id":12345678901234567890123}`,
			want: result{Text: `{"id":12345678901234567890123}`, Structured: `{"id":12345678901234567890123}`},
		},
		"error message from the body": {
			spec:   Spec{Response: ResponseSpec{Error: `"failed with " + string(status) + ": " + body.error.message`}},
			status: 422, body: `{"error":{"message":"name taken"}}`,
			want: result{IsError: true, Text: "failed with 422: name taken"},
		},
		"a failing error expression keeps the upstream's error": {
			spec:   Spec{Response: ResponseSpec{Error: `body.error.message`}},
			status: 500, body: `oops`,
			want: result{IsError: true, Text: "upstream returned HTTP 500 Internal Server Error: oops"},
		},
		"output schema satisfied": {
			spec:   Spec{OutputSchema: map[string]any{"properties": map[string]any{"id": map[string]any{"type": "integer"}}, "required": []any{"id"}}},
			status: 200, body: `{"id":1}`,
			want: result{Text: `{"id":1}`, Structured: `{"id":1}`},
		},
		"output schema violated": {
			spec:   Spec{OutputSchema: map[string]any{"properties": map[string]any{"id": map[string]any{"type": "integer"}}, "required": []any{"id"}}},
			status: 200, body: `{"name":"x"}`,
			want: result{IsError: true, Text: "the result does not match output_schema: /id: required"},
		},
		"output schema on a text body": {
			spec:   Spec{OutputSchema: map[string]any{"properties": map[string]any{}}},
			status: 200, body: `hello`,
			want: result{IsError: true, Text: "the upstream answered text/plain, not JSON, and output_schema needs a structured result"},
		},
		"text body shaped": {
			spec:   Spec{Response: ResponseSpec{Text: `upper(body)`}},
			status: 200, body: `hello`,
			want: result{Text: "HELLO"},
		},
		"failing result names its field": {
			spec:   Spec{Response: ResponseSpec{Result: `body.a.b`}},
			status: 200, body: `{"a":null}`,
			want: result{IsError: true, Text: "evaluating response.result: cannot fetch b from <nil> (1:8)\n | body.a.b\n | .......^"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tt.spec.Name, tt.spec.Upstream, tt.spec.Input = "t", "api", input
			tool := mustCompile(t, tt.spec)
			req, err := tool.BuildRequest(json.RawMessage(`{"q":"pets"}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			h := jsonHeader
			if !json.Valid([]byte(tt.body)) {
				h = http.Header{"Content-Type": {"text/plain"}}
			}
			r := tool.ShapeResponse(req, tt.status, h, []byte(tt.body))
			got := result{IsError: r.IsError, Text: r.Text, Structured: string(r.Structured)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	items := make([]string, 100)
	for i := range items {
		items[i] = fmt.Sprintf(`{"n":%d}`, i)
	}
	list := "[" + strings.Join(items, ",") + "]"
	tests := map[string]struct {
		limit      int
		body, ct   string
		wantPrefix string
		wantNote   string
		wantItems  int // items in structured content; -1: none
	}{
		"array cut at an element boundary": {limit: 100, body: list, ct: "application/json", wantPrefix: `[{"n":0},`, wantNote: "[truncated: showing 12 of 100 items;", wantItems: 12},
		"largest array of an object cut":   {limit: 120, body: `{"total":100,"items":` + list + `}`, ct: "application/json", wantPrefix: `{"items":[{"n":0}`, wantNote: `of "items"`, wantItems: 11},
		"object without arrays: text only": {limit: 10, body: `{"a":"aaaaaaaaaaaaaaaaaaaa"}`, ct: "application/json", wantPrefix: `{"a":"aaaa`, wantNote: "[truncated: showing 10 of 28 bytes", wantItems: -1},
		"text cut at a rune boundary":      {limit: 5, body: "ééé", ct: "text/plain", wantPrefix: "éé\n", wantNote: "showing 4 of 6 bytes", wantItems: -1},
		"fits: untouched":                  {limit: 1 << 20, body: list, ct: "application/json", wantPrefix: list, wantItems: 100},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tool := mustCompile(t, Spec{Name: "t", Upstream: "api", MaxResultBytes: tt.limit})
			r := tool.ShapeResponse(nil, 200, http.Header{"Content-Type": {tt.ct}}, []byte(tt.body))
			if r.IsError || !strings.HasPrefix(r.Text, tt.wantPrefix) || !strings.Contains(r.Text, tt.wantNote) {
				t.Errorf("text %q, want prefix %q and note %q", r.Text, tt.wantPrefix, tt.wantNote)
			}
			if tt.wantItems < 0 {
				if r.Structured != nil {
					t.Errorf("structured %s, want none", r.Structured)
				}
				return
			}
			var s map[string]any
			if err := json.Unmarshal(r.Structured, &s); err != nil {
				t.Fatal(err)
			}
			arr, _ := s["result"].([]any)
			if arr == nil {
				arr, _ = s["items"].([]any)
			}
			if len(arr) != tt.wantItems {
				t.Errorf("%d items in structured content, want %d", len(arr), tt.wantItems)
			}
			if len(r.Structured) > tt.limit+len(`{"result":}`) {
				t.Errorf("structured content is %d bytes, over the limit %d", len(r.Structured), tt.limit)
			}
		})
	}
}

func TestBinaryOverLimit(t *testing.T) {
	tool := mustCompile(t, Spec{Name: "t", Upstream: "api", MaxResultBytes: 4})
	r := tool.ShapeResponse(nil, 200, http.Header{"Content-Type": {"image/png"}}, []byte("\x89PNG\r\n"))
	if r.Binary != nil || !strings.Contains(r.Text, "6 bytes of image/png, more than max_result_bytes (4)") {
		t.Errorf("got %+v", r)
	}
}

func TestEvaluationBudget(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	items := make([]string, 3000)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	args, _ := json.Marshal(map[string]any{"s": big, "items": items})
	tests := map[string]string{
		"repeat in a loop":          `map(1..100000, len(repeat("x", 1000000)))`,
		"copies of an argument":     `map(1..1000, len(upper(args.s)))`,
		"concatenation doubling":    `let a = args.s + args.s; let b = a + a; let c = b + b; let d = c + c; let e = d + d; len(e + e)`,
		"nested loop over an array": `sum(map(args.items, count(args.items, # == "1")))`,
		"toJSON of the arguments":   `len(map(args.items, toJSON(args)))`,
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			tool := mustCompile(t, Spec{Name: "t", Upstream: "api",
				Input: map[string]any{"type": "object", "additionalProperties": true},
				Query: map[string]string{"q": src}})
			_, err := tool.BuildRequest(args, nil)
			var ee *EvalError
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), "evaluation budget") {
				t.Fatalf("BuildRequest error %v, want the evaluation budget exceeded", err)
			}
		})
	}
	// Ordinary mappings stay far below the budget.
	tool := mustCompile(t, Spec{Name: "t", Upstream: "api",
		Input: map[string]any{"type": "object", "additionalProperties": true},
		Query: map[string]string{"q": `join(map(args.items, upper(#)), ",")`}})
	if _, err := tool.BuildRequest(args, nil); err != nil {
		t.Errorf("an ordinary mapping failed: %v", err)
	}
}

func TestBinaryCaption(t *testing.T) {
	tool := mustCompile(t, Spec{Name: "t", Upstream: "api",
		Input:    map[string]any{"properties": map[string]any{"id": map[string]any{"type": "integer"}}},
		Response: ResponseSpec{Text: `"photo of pet " + string(args.id) + " (" + headers["content-type"] + ")"`}})
	req, err := tool.BuildRequest(json.RawMessage(`{"id":7}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := tool.ShapeResponse(req, 200, http.Header{"Content-Type": {"image/png"}}, []byte("\x89PNG\r\n"))
	if r.Binary == nil || r.Binary.MIMEType != "image/png" || r.Text != "photo of pet 7 (image/png)" {
		t.Errorf("got %+v", r)
	}
}
