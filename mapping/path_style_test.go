package mapping

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestPathStyles checks every OpenAPI path style (simple, label, matrix, each
// with and without explode) for a scalar, an array and an object, as the
// OpenAPI specification's style table writes them.
func TestPathStyles(t *testing.T) {
	values := map[string]string{
		"scalar": `5`,
		"array":  `[3,4,5]`,
		"object": `{"role":"admin","firstName":"Alex"}`,
	}
	tests := map[string]map[string]string{
		"{id}":   {"scalar": "/x/5", "array": "/x/3,4,5", "object": "/x/firstName,Alex,role,admin"},
		"{id*}":  {"scalar": "/x/5", "array": "/x/3,4,5", "object": "/x/firstName=Alex,role=admin"},
		"{.id}":  {"scalar": "/x/.5", "array": "/x/.3,4,5", "object": "/x/.firstName,Alex,role,admin"},
		"{.id*}": {"scalar": "/x/.5", "array": "/x/.3.4.5", "object": "/x/.firstName=Alex.role=admin"},
		"{;id}":  {"scalar": "/x/;id=5", "array": "/x/;id=3,4,5", "object": "/x/;id=firstName,Alex,role,admin"},
		"{;id*}": {"scalar": "/x/;id=5", "array": "/x/;id=3;id=4;id=5", "object": "/x/;firstName=Alex;role=admin"},
	}
	for placeholder, want := range tests {
		tool := mustCompile(t, Spec{Name: "t", Upstream: "api", Path: "/x/" + placeholder, Input: props(map[string]any{"id": map[string]any{}}, "id")})
		for kind, v := range values {
			t.Run(placeholder+" "+kind, func(t *testing.T) {
				r, err := tool.BuildRequest(json.RawMessage(`{"id":`+v+`}`), nil)
				if err != nil {
					t.Fatalf("BuildRequest: %v", err)
				}
				if r.Path != want[kind] {
					t.Errorf("Path = %q, want %q", r.Path, want[kind])
				}
			})
		}
	}
}

func TestPathStyleRejectsUnsafeValues(t *testing.T) {
	tool := mustCompile(t, Spec{Name: "t", Upstream: "api", Path: "/x/{.id*}", Input: props(map[string]any{"id": map[string]any{}}, "id")})
	for _, args := range []string{`{"id":["a",".."]}`, `{"id":{"k":".."}}`, `{"id":{"..":"v"}}`, `{"id":[]}`, `{"id":{}}`, `{"id":["a;b,c"]}`} {
		r, err := tool.BuildRequest(json.RawMessage(args), nil)
		if args == `{"id":["a;b,c"]}` {
			if err != nil || r.Path != "/x/.a%3Bb%2Cc" {
				t.Errorf("BuildRequest(%s) = %v, %v; want separators escaped", args, r, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("BuildRequest(%s) = %q, want an error", args, r.Path)
		}
	}
}

func TestEmptyQueryTurnsOffDefaultMapping(t *testing.T) {
	tool := mustCompile(t, Spec{Name: "t", Upstream: "api", Query: map[string]string{}, Headers: map[string]string{"X-Id": "args.id"}, Input: props(map[string]any{"id": stringProp}, "id")})
	r, err := tool.BuildRequest(json.RawMessage(`{"id":"7"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Query != "" || r.Header.Get("X-Id") != "7" {
		t.Errorf("Query = %q, X-Id = %q; want no query and the header", r.Query, r.Header.Get("X-Id"))
	}
}

func TestNilBodySendsNoBody(t *testing.T) {
	tool := mustCompile(t, Spec{Name: "t", Upstream: "api", Method: "POST", Body: "args.body", Input: props(map[string]any{"body": map[string]any{"type": "array"}})})
	for args, want := range map[string]string{`{}`: "", `{"body":[1]}`: "[1]"} {
		r, err := tool.BuildRequest(json.RawMessage(args), nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Body) != want || (want == "") != (r.ContentType == "") {
			t.Errorf("BuildRequest(%s): body %q, content type %q; want body %q", args, r.Body, r.ContentType, want)
		}
	}
}

func TestRawBody(t *testing.T) {
	tool := mustCompile(t, Spec{Name: "t", Upstream: "api", Method: "PUT", Raw: `args.text ?? (args.data == nil ? nil : fromBase64(args.data))`, RawContentType: "text/plain; charset=utf-8",
		Input: props(map[string]any{"text": stringProp, "data": stringProp})})
	for args, want := range map[string]string{`{"text":"# Hello"}`: "# Hello", `{"data":"AAEC"}`: "\x00\x01\x02", `{}`: ""} {
		r, err := tool.BuildRequest(json.RawMessage(args), nil)
		if err != nil {
			t.Fatal(err)
		}
		wantType := "text/plain; charset=utf-8"
		if want == "" {
			wantType = ""
		}
		if string(r.Body) != want || r.ContentType != wantType {
			t.Errorf("BuildRequest(%s): body %q, content type %q; want %q, %q", args, r.Body, r.ContentType, want, wantType)
		}
	}
	if _, err := Compile(Spec{Name: "t", Upstream: "api", Method: "POST", Raw: "args", Body: "args", RawContentType: "bad type"}); err == nil ||
		!strings.Contains(err.Error(), `raw_content_type: "bad type" is not a media type`) || !strings.Contains(err.Error(), "body and raw cannot both be set") {
		t.Errorf("Compile error = %v, want the media type and the two bodies reported", err)
	}
}

func TestResponseStatuses(t *testing.T) {
	tool := mustCompile(t, Spec{Name: "t", Upstream: "api", Response: ResponseSpec{Statuses: map[string]string{"404": "No such pet.", "4xx": "Bad  request.", "default": "Failed."}}})
	r, err := tool.BuildRequest(json.RawMessage(`{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	for status, want := range map[int]string{
		404: "upstream returned HTTP 404 Not Found (No such pet.): {\"a\":1}",
		409: "upstream returned HTTP 409 Conflict (Bad request.): {\"a\":1}",
		503: "upstream returned HTTP 503 Service Unavailable (Failed.): {\"a\":1}",
	} {
		res := tool.ShapeResponse(r, status, http.Header{"Content-Type": {"application/json"}}, []byte(`{"a": 1}`))
		if !res.IsError || res.Text != want {
			t.Errorf("status %d: %+v, want error %q", status, res, want)
		}
	}
	if _, err := Compile(Spec{Name: "t", Upstream: "api", Response: ResponseSpec{Statuses: map[string]string{"4xxx": "x"}}}); err == nil || !strings.Contains(err.Error(), "response.statuses.4xxx: want a status code") {
		t.Errorf("Compile error = %v, want the bad status key", err)
	}
}
