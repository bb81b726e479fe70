package mapping

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// result is Result with Structured as a string, for readable diffs.
type result struct {
	IsError          bool
	Text, Structured string
	Binary           string // "MIME-type:length"
}

func TestShapeResponse(t *testing.T) {
	tool := mustCompile(t, Spec{Name: "t", Upstream: "api"})
	ct := func(v string) http.Header { return http.Header{"Content-Type": {v}} }
	long := strings.Repeat("x", 3000)
	tests := map[string]struct {
		status int
		header http.Header
		body   string
		want   result
	}{
		"JSON object": {
			status: 200, header: ct("application/json; charset=utf-8"),
			body: "{\n  \"id\": 1,\n  \"name\": \"Rex\"\n}\n",
			want: result{Text: `{"id":1,"name":"Rex"}`, Structured: `{"id":1,"name":"Rex"}`},
		},
		"JSON array is wrapped": {
			status: 200, header: ct("application/json"),
			body: `[ {"id": 1}, {"id": 2} ]`,
			want: result{Text: `[{"id":1},{"id":2}]`, Structured: `{"result":[{"id":1},{"id":2}]}`},
		},
		"invalid UTF-8 in a JSON array is replaced, then wrapped": {
			status: 200, header: ct("application/json"),
			body: "[ \"caf\xe9\" ]",
			want: result{Text: "[\"caf\uFFFD\"]", Structured: "{\"result\":[\"caf\uFFFD\"]}"},
		},
		"invalid UTF-8 in a JSON object is replaced": {
			status: 200, header: ct("application/json"),
			body: "{\"name\": \"caf\xe9\"}",
			want: result{Text: "{\"name\":\"caf\uFFFD\"}", Structured: "{\"name\":\"caf\uFFFD\"}"},
		},
		"JSON scalar is wrapped": {
			status: 201, header: ct("application/problem+json"),
			body: ` 42 `,
			want: result{Text: `42`, Structured: `{"result":42}`},
		},
		"large integers kept exact": {
			status: 200, header: ct("application/json"),
			body: `{"id": 9007199254740993}`,
			want: result{Text: `{"id":9007199254740993}`, Structured: `{"id":9007199254740993}`},
		},
		"JSON without a content type": {
			status: 200, header: http.Header{},
			body: `{"ok": true}`,
			want: result{Text: `{"ok":true}`, Structured: `{"ok":true}`},
		},
		"text": {
			status: 200, header: ct("text/plain; charset=utf-8"),
			body: "hello\nworld\n",
			want: result{Text: "hello\nworld\n"},
		},
		"JSON-looking text stays text": {
			status: 200, header: ct("text/plain"),
			body: `{"a":1}`,
			want: result{Text: `{"a":1}`},
		},
		"204 empty": {
			status: 204, header: http.Header{},
			want: result{Text: "upstream returned HTTP 204 No Content with an empty body"},
		},
		"200 empty JSON": {
			status: 200, header: ct("application/json"), body: "  \n",
			want: result{Text: "upstream returned HTTP 200 OK with an empty body"},
		},
		"invalid JSON": {
			status: 200, header: ct("application/json"),
			body: `{"id": 1,`,
			want: result{IsError: true, Text: "upstream returned invalid JSON (9 bytes, content type application/json): unexpected end of JSON input"},
		},
		"404 JSON": {
			status: 404, header: ct("application/json"),
			body: "{\n  \"error\": \"pet not found\"\n}",
			want: result{IsError: true, Text: `upstream returned HTTP 404 Not Found: {"error":"pet not found"}`},
		},
		"500 text with white space folded": {
			status: 500, header: ct("text/html"),
			body: "<html>\n  <body>  oops </body>\n</html>\n",
			want: result{IsError: true, Text: "upstream returned HTTP 500 Internal Server Error: <html> <body> oops </body> </html>"},
		},
		"503 long body trimmed with a note": {
			status: 503, header: ct("text/plain"),
			body: long,
			want: result{IsError: true, Text: "upstream returned HTTP 503 Service Unavailable: " + long[:1024] + "… (1976 more bytes)"},
		},
		"long body cut on a character boundary": {
			status: 400, header: ct("text/plain"),
			body: "a" + strings.Repeat("é", 600), // 1201 bytes; byte 1024 is inside an é
			want: result{IsError: true, Text: "upstream returned HTTP 400 Bad Request: a" + strings.Repeat("é", 511) + "… (178 more bytes)"},
		},
		"error without a body": {
			status: 401, header: http.Header{},
			want: result{IsError: true, Text: "upstream returned HTTP 401 Unauthorized"},
		},
		"unknown status": {
			status: 599, header: http.Header{},
			body: "x",
			want: result{IsError: true, Text: "upstream returned HTTP 599: x"},
		},
		"redirect not followed is an error": {
			status: 302, header: http.Header{"Location": {"https://elsewhere.example/"}},
			want: result{IsError: true, Text: "upstream returned HTTP 302 Found"},
		},
		"image body as binary content": {
			status: 200, header: ct("image/png"),
			body: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff",
			want: result{Binary: "image/png:17"},
		},
		"binary body without a content type": {
			status: 200, header: http.Header{},
			body: "\xff\xfe\x00\x01",
			want: result{Binary: "application/octet-stream:4"},
		},
		"binary error body described": {
			status: 502, header: ct("application/octet-stream"),
			body: "\xff\xfe\x00\x01",
			want: result{IsError: true, Text: "upstream returned HTTP 502 Bad Gateway (4-byte binary body)"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := tool.ShapeResponse(nil, tt.status, tt.header, []byte(tt.body))
			got := result{IsError: r.IsError, Text: r.Text, Structured: string(r.Structured)}
			if r.Binary != nil {
				got.Binary = fmt.Sprintf("%s:%d", r.Binary.MIMEType, len(r.Binary.Data))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ShapeResponse (-want +got):\n%s", diff)
			}
			if tt.want.Structured == "" && r.Structured != nil {
				t.Errorf("Structured = %q, want nil", r.Structured)
			}
		})
	}
}
