package mapping

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustCompile(t *testing.T, spec Spec) *Tool {
	t.Helper()
	tool, err := Compile(spec)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tool
}

// req is the part of a Request a test compares; Body is a string so that
// diffs are readable.
type req struct {
	Method, Path, Query string
	Header              http.Header
	Body, ContentType   string
}

func view(r *Request) req {
	return req{Method: r.Method, Path: r.Path, Query: r.Query, Header: r.Header, Body: string(r.Body), ContentType: r.ContentType}
}

func TestBuildRequestPath(t *testing.T) {
	tool := mustCompile(t, Spec{
		Name: "get_item", Upstream: "api", Path: "/items/{id}/history",
		Input: props(map[string]any{"id": stringProp}, "id"),
	})
	tests := map[string]struct {
		args     string
		wantPath string
	}{
		"plain":            {args: `{"id":"abc-123"}`, wantPath: "/items/abc-123/history"},
		"space":            {args: `{"id":"a b"}`, wantPath: "/items/a%20b/history"},
		"slash":            {args: `{"id":"a/b"}`, wantPath: "/items/a%2Fb/history"},
		"unicode":          {args: `{"id":"café"}`, wantPath: "/items/caf%C3%A9/history"},
		"question mark":    {args: `{"id":"a?b"}`, wantPath: "/items/a%3Fb/history"},
		"hash":             {args: `{"id":"a#b"}`, wantPath: "/items/a%23b/history"},
		"percent":          {args: `{"id":"50%25"}`, wantPath: "/items/50%2525/history"},
		"dots inside text": {args: `{"id":"v1.2..3"}`, wantPath: "/items/v1.2..3/history"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := tool.BuildRequest([]byte(tt.args), nil)
			if err != nil {
				t.Fatalf("BuildRequest(%s): %v", tt.args, err)
			}
			if r.Path != tt.wantPath {
				t.Errorf("Path = %q, want %q", r.Path, tt.wantPath)
			}
		})
	}
}

func TestBuildRequestPathRejected(t *testing.T) {
	tool := mustCompile(t, Spec{
		Name: "get_item", Upstream: "api", Path: "/items/{id}",
		Input: props(map[string]any{"id": stringProp}, "id"),
	})
	tests := map[string]struct {
		args string
		want []string
	}{
		"dot":                 {args: `{"id":"."}`, want: []string{`/id: "." contains a "." path segment`}},
		"dot dot":             {args: `{"id":".."}`, want: []string{`/id: ".." contains a ".." path segment`}},
		"climb":               {args: `{"id":"../admin"}`, want: []string{`/id: "../admin" contains a ".." path segment`}},
		"climb inside":        {args: `{"id":"a/../b"}`, want: []string{`/id: "a/../b" contains a ".." path segment`}},
		"backslash climb":     {args: `{"id":"a\\..\\b"}`, want: []string{`/id: "a\\..\\b" contains a ".." path segment`}},
		"current directory":   {args: `{"id":"./x"}`, want: []string{`/id: "./x" contains a "." path segment`}},
		"empty":               {args: `{"id":""}`, want: []string{"/id: must not be empty (it fills a path segment)"}},
		"control character":   {args: `{"id":"a\nb"}`, want: []string{"/id: contains a control character"}},
		"encoded climb":       {args: `{"id":"%2e%2e"}`, want: []string{`/id: "%2e%2e" decodes to a value that is not allowed in a path segment: ".." contains a ".." path segment`}},
		"encoded slash climb": {args: `{"id":"a%2f..%2fb"}`, want: []string{`/id: "a%2f..%2fb" decodes to a value that is not allowed in a path segment: "a/../b" contains a ".." path segment`}},
		"encoded CRLF":        {args: `{"id":"%0d%0aX: 1"}`, want: []string{`/id: "%0d%0aX: 1" decodes to a value that is not allowed in a path segment: contains a control character`}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := tool.BuildRequest([]byte(tt.args), nil)
			var ae *ArgumentError
			if !errors.As(err, &ae) {
				t.Fatalf("BuildRequest(%s) = %+v, %v; want an *ArgumentError", tt.args, r, err)
			}
			if diff := cmp.Diff(tt.want, ae.Problems); diff != "" {
				t.Errorf("Problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildRequestQueryMapping(t *testing.T) {
	tool := mustCompile(t, Spec{
		Name: "search", Upstream: "api", Path: "/search",
		Input: map[string]any{"additionalProperties": true},
		Query: map[string]string{
			"absent": "args.missing",
			"nil":    "nil",
			"tags":   "args.tags",
			"split":  `split("a,b", ",")`,
			"yes":    "true",
			"no":     "false",
			"int":    "42",
			"float":  "1.5",
			"obj":    "{a: 1, b: 'x y'}",
			"str":    "args.q",
		},
	})
	r, err := tool.BuildRequest([]byte(`{"q":"cats & dogs","tags":["a",null,"b c"]}`), nil)
	if err != nil {
		t.Fatalf("BuildRequest: %v", err)
	}
	want := "float=1.5&int=42&no=false&obj=%7B%22a%22%3A1%2C%22b%22%3A%22x+y%22%7D&split=a&split=b&str=cats+%26+dogs&tags=a&tags=b+c&yes=true"
	if r.Query != want {
		t.Errorf("Query = %q\nwant    %q", r.Query, want)
	}
}

func TestBuildRequestHeaders(t *testing.T) {
	tool := mustCompile(t, Spec{
		Name: "t", Upstream: "api",
		Input:   map[string]any{"additionalProperties": true},
		Headers: map[string]string{"x-tenant": "args.tenant", "X-List": "args.list", "X-Absent": "args.none", "X-Num": "7"},
	})
	tests := map[string]struct {
		args    string
		want    http.Header
		wantErr string
	}{
		"values": {
			args: `{"tenant":"acme","list":["a","b"]}`,
			want: http.Header{"X-Tenant": {"acme"}, "X-List": {"a, b"}, "X-Num": {"7"}},
		},
		"tab is allowed": {
			args: `{"tenant":"a\tb"}`,
			want: http.Header{"X-Tenant": {"a\tb"}, "X-Num": {"7"}},
		},
		"CR LF": {
			args:    `{"tenant":"acme\r\nX-Admin: yes"}`,
			wantErr: "evaluating headers.x-tenant: header value contains a control character at byte 4",
		},
		"LF in an array element": {
			args:    `{"list":["a","b\nc"]}`,
			wantErr: "evaluating headers.X-List: header value contains a control character at byte 4",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := tool.BuildRequest([]byte(tt.args), nil)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("BuildRequest = %+v, %v; want error %q", r, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("BuildRequest: %v", err)
			}
			if diff := cmp.Diff(tt.want, r.Header); diff != "" {
				t.Errorf("Header (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildRequest(t *testing.T) {
	petInput := props(map[string]any{
		"id":     integerProp,
		"status": map[string]any{"type": "string", "enum": []any{"available", "sold"}, "default": "available"},
		"limit":  map[string]any{"type": "integer", "default": 20},
		"tags":   map[string]any{"type": "array", "items": stringProp},
	}, "id")
	tests := map[string]struct {
		spec   Spec
		args   string
		claims map[string]any
		want   req
	}{
		"GET default rule: path args excluded, rest to the query, defaults applied": {
			spec: Spec{Name: "t", Upstream: "api", Path: "/pets/{id}", Input: petInput},
			args: `{"id":7,"tags":["a","b"]}`,
			want: req{Method: "GET", Path: "/pets/7", Query: "limit=20&status=available&tags=a&tags=b"},
		},
		"DELETE default rule goes to the query": {
			spec: Spec{Name: "t", Upstream: "api", Method: "DELETE", Path: "/pets/{id}", Input: petInput},
			args: `{"id":7,"status":"sold"}`,
			want: req{Method: "DELETE", Path: "/pets/7", Query: "limit=20&status=sold"},
		},
		"POST default rule: path args excluded, rest to a JSON body": {
			spec: Spec{Name: "t", Upstream: "api", Method: "POST", Path: "/pets/{id}", Input: petInput},
			args: `{"id":7,"tags":["a"]}`,
			want: req{Method: "POST", Path: "/pets/7", Body: `{"limit":20,"status":"available","tags":["a"]}`, ContentType: "application/json"},
		},
		"POST with no arguments sends an empty object": {
			spec: Spec{Name: "t", Upstream: "api", Method: "POST", Path: "/ping"},
			args: ``,
			want: req{Method: "POST", Path: "/ping", Body: `{}`, ContentType: "application/json"},
		},
		"null arguments are no arguments": {
			spec: Spec{Name: "t", Upstream: "api", Path: "/ping"},
			args: `null`,
			want: req{Method: "GET", Path: "/ping"},
		},
		"body map drops nil fields": {
			spec: Spec{Name: "t", Upstream: "api", Method: "POST", Path: "/pets", Input: petInput,
				Body: map[string]any{"id": "args.id", "tags": "args.tags", "kind": `"dog"`}},
			args: `{"id":1}`,
			want: req{Method: "POST", Path: "/pets", Body: `{"id":1,"kind":"dog"}`, ContentType: "application/json"},
		},
		"body single expression": {
			spec: Spec{Name: "t", Upstream: "api", Method: "PUT", Path: "/pets/{id}", Input: petInput, Body: "args"},
			args: `{"id":1,"tags":["<b>&"]}`,
			want: req{Method: "PUT", Path: "/pets/1", Body: `{"id":1,"limit":20,"status":"available","tags":["<b>&"]}`, ContentType: "application/json"},
		},
		"query mapping: unmapped args are not sent": {
			spec: Spec{Name: "t", Upstream: "api", Path: "/pets", Input: petInput, Query: map[string]string{"state": "args.status"}},
			args: `{"id":1,"tags":["x"]}`,
			want: req{Method: "GET", Path: "/pets", Query: "state=available"},
		},
		"nested defaults": {
			spec: Spec{Name: "t", Upstream: "api", Method: "POST", Path: "/search", Input: props(map[string]any{
				"page": map[string]any{"type": "object", "properties": map[string]any{
					"size":   map[string]any{"type": "integer", "default": 50},
					"cursor": map[string]any{"type": "string"},
				}},
				"sort": map[string]any{"type": "object", "default": map[string]any{"by": "name"}},
			})},
			args: `{"page":{"cursor":"c1"}}`,
			want: req{Method: "POST", Path: "/search", Body: `{"page":{"cursor":"c1","size":50},"sort":{"by":"name"}}`, ContentType: "application/json"},
		},
		"claims are visible to expressions": {
			spec:   Spec{Name: "t", Upstream: "api", Path: "/me", Query: map[string]string{"user": "claims.sub"}, Headers: map[string]string{"X-Scopes": "claims.scopes"}},
			args:   `{}`,
			claims: map[string]any{"sub": "user-1", "scopes": []any{"read", "write"}},
			want:   req{Method: "GET", Path: "/me", Query: "user=user-1", Header: http.Header{"X-Scopes": {"read, write"}}},
		},
		"no claims": {
			spec: Spec{Name: "t", Upstream: "api", Path: "/me", Query: map[string]string{"user": "claims.sub"}},
			args: `{}`,
			want: req{Method: "GET", Path: "/me"},
		},
		"default rule: object argument JSON-encoded, booleans and numbers formatted": {
			spec: Spec{Name: "t", Upstream: "api", Path: "/q", Input: props(map[string]any{
				"filter": map[string]any{"type": "object"},
				"exact":  map[string]any{"type": "boolean"},
				"ratio":  map[string]any{"type": "number"},
				"when":   map[string]any{"type": "null"},
			})},
			args: `{"filter":{"a":[1,2]},"exact":false,"ratio":0.25,"when":null}`,
			want: req{Method: "GET", Path: "/q", Query: "exact=false&filter=%7B%22a%22%3A%5B1%2C2%5D%7D&ratio=0.25"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tool := mustCompile(t, tt.spec)
			r, err := tool.BuildRequest([]byte(tt.args), tt.claims)
			if err != nil {
				t.Fatalf("BuildRequest(%s): %v", tt.args, err)
			}
			if diff := cmp.Diff(tt.want, view(r)); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// Integers beyond 2^53 are ids in real APIs (Twitter, Discord): a float64
// would silently change them.
func TestBuildRequestLargeIntegers(t *testing.T) {
	const (
		above53 = "9007199254740993"               // 2^53 + 1
		huge    = "123456789012345678901234567890" // beyond int64
	)
	input := props(map[string]any{"id": integerProp, "n": integerProp, "m": integerProp}, "id")
	tests := map[string]struct {
		spec Spec
		args string
		want req
	}{
		"path and query by the default rule": {
			spec: Spec{Name: "t", Upstream: "api", Path: "/things/{id}", Input: input},
			args: `{"id":` + above53 + `,"n":` + huge + `}`,
			want: req{Method: "GET", Path: "/things/" + above53, Query: "n=" + huge},
		},
		"huge integer in the path": {
			spec: Spec{Name: "t", Upstream: "api", Path: "/things/{id}", Input: input},
			args: `{"id":` + huge + `}`,
			want: req{Method: "GET", Path: "/things/" + huge},
		},
		"query mapping": {
			spec: Spec{Name: "t", Upstream: "api", Path: "/things", Input: input, Query: map[string]string{"a": "args.id", "b": "args.n"}},
			args: `{"id":` + above53 + `,"n":` + huge + `}`,
			want: req{Method: "GET", Path: "/things", Query: "a=" + above53 + "&b=" + huge},
		},
		"JSON body by the default rule": {
			spec: Spec{Name: "t", Upstream: "api", Method: "POST", Path: "/things", Input: input},
			args: `{"id":` + above53 + `,"n":` + huge + `}`,
			want: req{Method: "POST", Path: "/things", Body: `{"id":` + above53 + `,"n":` + huge + `}`, ContentType: "application/json"},
		},
		"JSON body map": {
			spec: Spec{Name: "t", Upstream: "api", Method: "POST", Path: "/things", Input: input, Body: map[string]any{"id": "args.id", "n": "args.n"}},
			args: `{"id":` + above53 + `,"n":` + huge + `}`,
			want: req{Method: "POST", Path: "/things", Body: `{"id":` + above53 + `,"n":` + huge + `}`, ContentType: "application/json"},
		},
		"default above 2^53": {
			spec: Spec{Name: "t", Upstream: "api", Path: "/things", Input: props(map[string]any{"n": map[string]any{"type": "integer", "default": 9007199254740993}})},
			args: `{}`,
			want: req{Method: "GET", Path: "/things", Query: "n=" + above53},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tool := mustCompile(t, tt.spec)
			r, err := tool.BuildRequest([]byte(tt.args), nil)
			if err != nil {
				t.Fatalf("BuildRequest(%s): %v", tt.args, err)
			}
			if diff := cmp.Diff(tt.want, view(r)); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildRequestArgumentErrors(t *testing.T) {
	tool := mustCompile(t, Spec{
		Name: "t", Upstream: "api", Method: "POST", Path: "/pets",
		Input: props(map[string]any{
			"name":  map[string]any{"type": "string", "minLength": 1},
			"age":   map[string]any{"type": "integer", "minimum": 0},
			"owner": map[string]any{"type": "object", "properties": map[string]any{"email": map[string]any{"type": "string", "format": "email"}}},
		}, "name"),
	})
	tests := map[string]struct {
		args string
		want []string
	}{
		"array":         {args: `[]`, want: []string{"arguments must be a JSON object, not an array"}},
		"string":        {args: `"x"`, want: []string{"arguments must be a JSON object, not a string"}},
		"number":        {args: `3`, want: []string{"arguments must be a JSON object, not a number"}},
		"invalid JSON":  {args: `{"name":`, want: []string{"arguments are not valid JSON: unexpected EOF"}},
		"trailing data": {args: `{"name":"a"} {}`, want: []string{"arguments are not valid JSON: trailing data after the JSON value"}},
		"extra argument": {
			args: `{"name":"rex","colour":"brown"}`,
			want: []string{"/colour: not allowed (no such argument)"},
		},
		"missing required": {
			args: `{"age":3}`,
			want: []string{"/name: required"},
		},
		"every violation, each with its JSON pointer": {
			args: `{"name":"","age":-1,"owner":{"email":"not-an-email"},"x":1}`,
			want: []string{
				"/age: minimum: got -1, want 0",
				"/name: minLength: got 0, want 1",
				"/owner/email: 'not-an-email' is not valid email: missing @",
				"/x: not allowed (no such argument)",
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := tool.BuildRequest([]byte(tt.args), nil)
			var ae *ArgumentError
			if !errors.As(err, &ae) {
				t.Fatalf("BuildRequest(%s) = %+v, %v; want an *ArgumentError", tt.args, r, err)
			}
			if diff := cmp.Diff(tt.want, ae.Problems); diff != "" {
				t.Errorf("Problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestArgumentErrorText(t *testing.T) {
	tests := map[string]struct {
		problems []string
		want     string
	}{
		"one":  {problems: []string{"/a: bad"}, want: "invalid arguments: /a: bad"},
		"many": {problems: []string{"/a: bad", "/b: worse"}, want: "invalid arguments:\n- /a: bad\n- /b: worse"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := (&ArgumentError{Problems: tt.problems}).Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

// A compiled tool serves concurrent calls; defaults are copied into each
// call, so that normalising one call's numbers never touches another's (the
// race detector sees it if they are shared).
func TestBuildRequestConcurrent(t *testing.T) {
	tool := mustCompile(t, Spec{
		Name: "t", Upstream: "api", Method: "POST", Path: "/x/{id}", Body: "args",
		Input: props(map[string]any{
			"id":   integerProp,
			"opts": map[string]any{"type": "object", "default": map[string]any{"size": 10, "tags": []any{1.5, 2}}},
		}, "id"),
	})
	const n = 16
	bodies := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := tool.BuildRequest([]byte(`{"id":`+strconv.Itoa(i)+`}`), nil)
			errs[i] = err
			if err == nil {
				bodies[i] = string(r.Body)
			}
		})
	}
	wg.Wait()
	for i := range n {
		want := `{"id":` + strconv.Itoa(i) + `,"opts":{"size":10,"tags":[1.5,2]}}`
		if errs[i] != nil || bodies[i] != want {
			t.Errorf("call %d = %s, %v; want %s", i, bodies[i], errs[i], want)
		}
	}
}

func TestBuildRequestEvalError(t *testing.T) {
	tool := mustCompile(t, Spec{
		Name: "t", Upstream: "api", Path: "/x",
		Input: props(map[string]any{"n": integerProp}),
		Query: map[string]string{"a": "args.n", "bad": "args.n.x"},
	})
	_, err := tool.BuildRequest([]byte(`{"n":1}`), nil)
	var ee *EvalError
	if !errors.As(err, &ee) {
		t.Fatalf("BuildRequest = %v, want an *EvalError", err)
	}
	if ee.Field != "query.bad" {
		t.Errorf("EvalError.Field = %q, want query.bad", ee.Field)
	}
}
