package mapping_test

// Native fuzz tests for what a model controls: path arguments, query values,
// header values, whole argument objects, and, on the operator's side, the
// expressions themselves and the upstream's responses. Each target checks a
// property that matters for security (the request stays on its upstream and
// path, no injection into the query or the headers, evaluation is bounded),
// not only the absence of panics.
//
// Run one target at a time, for example:
//
//	go test ./mapping -run '^$' -fuzz '^FuzzPathArgument$' -fuzztime 60s -parallel 2
//
// Failing inputs land in testdata/fuzz/FuzzXxx/ and are replayed by every
// plain go test run.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/api2mcp/api2mcp/mapping"
)

// Bounds of one fuzz case run under [bounded]. A case normally takes
// microseconds and kilobytes; these are far enough above that to never trip
// on a slow or race-instrumented machine, and low enough to catch runaway
// evaluation before it takes the machine down.
const (
	fuzzDeadline  = 60 * time.Second
	fuzzHeapLimit = 512 << 20 // bytes of heap growth that fail the case
	// fuzzHeapCrash is the heap growth at which an evaluation still running
	// after its case failed crashes the test binary.
	fuzzHeapCrash = 2 << 30
)

// fuzzBaseURL is the upstream URL paths are appended to, with a base path
// as most upstreams have.
const fuzzBaseURL = "http://upstream.internal/api"

func mustCompileF(f *testing.F, spec mapping.Spec) *mapping.Tool {
	f.Helper()
	tool, err := mapping.Compile(spec)
	if err != nil {
		f.Fatalf("Compile(%s): %v", spec.Name, err)
	}
	return tool
}

// objectSchema is an input schema with the given properties and required
// names.
func objectSchema(properties map[string]any, required ...string) map[string]any {
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

// FuzzPathArgument fills a path placeholder with any string and checks that
// the request cannot leave its upstream or its path, even behind servers or
// proxies that decode the path once or twice.
func FuzzPathArgument(f *testing.F) {
	tool := mustCompileF(f, mapping.Spec{
		Name: "get_file", Upstream: "api", Path: "/files/{name}/raw",
		Input: objectSchema(map[string]any{"name": map[string]any{"type": "string"}}, "name"),
	})
	base, err := url.Parse(fuzzBaseURL)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"report.txt", "a b", "café", "v1.2..3", ".hidden", "a.", "...",
		".", "..", "./x", "../admin", "a/../b", `a\..\b`, "..\\", "/..", "..;", ";..",
		"%2e", "%2e%2e", "%2E%2E", "%2e%2e%2f", "..%2f", "%2e%2e%5c", "a%2f..%2fb", "a%5c..%5cb",
		"%252e%252e", "%25252e%25252e", "%%32%65%%32%65", "%2%65", "%", "%zz", "%u002e%u002e",
		"%c0%ae%c0%ae", "\xc0\xae\xc0\xae", "．．", "‥", "﹒﹒", "．/．．",
		"\r\nX-Injected: 1", "%0d%0aX-Injected: 1", "a\x00b", "%00", "\t", "\x7f", "\u0085", "\u2028",
		"?x=1#frag", "#", "//evil.example/x", "@evil.example", "http://evil.example/", ":80",
		strings.Repeat("a", 4096), strings.Repeat("../", 50),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		args, err := json.Marshal(map[string]string{"name": name})
		if err != nil {
			t.Fatal(err)
		}
		r, err := tool.BuildRequest(args, nil)
		if err != nil {
			var ae *mapping.ArgumentError
			if !errors.As(err, &ae) {
				t.Fatalf("BuildRequest(%s) error %T %v, want *mapping.ArgumentError", args, err, err)
			}
			return
		}
		u := upstreamURL(t, base, r)
		// (a) The request goes to the upstream and nowhere else.
		if u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil || u.Opaque != "" {
			t.Fatalf("name %q: URL %s leaves %s", name, u, base)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("name %q: URL %s gained a query or fragment", name, u)
		}
		// (b) The value fills exactly the one segment it was given.
		esc := u.EscapedPath()
		if esc != base.EscapedPath()+r.Path {
			t.Fatalf("name %q: the URL's path %q is not what was built, %q", name, esc, base.EscapedPath()+r.Path)
		}
		if !strings.HasPrefix(esc, "/api/files/") || !strings.HasSuffix(esc, "/raw") || strings.Count(esc, "/") != 4 {
			t.Fatalf("name %q: path %q is not /api/files/<one segment>/raw", name, esc)
		}
		if !strings.HasPrefix(u.Path, "/api/files/") {
			t.Fatalf("name %q: decoded path %q does not start with /api/files/", name, u.Path)
		}
		// (c), (d) No dot segment and no control character, as written and
		// after one or two rounds of percent-decoding.
		for level, p := range []string{esc, percentDecode(esc), percentDecode(percentDecode(esc))} {
			for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
				if seg == "." || seg == ".." {
					t.Fatalf("name %q: path %q has a %q segment after %d percent-decodings: %q", name, esc, seg, level, p)
				}
			}
			if i := strings.IndexFunc(p, isControl); i >= 0 {
				t.Fatalf("name %q: path %q has a control character at byte %d after %d percent-decodings: %q", name, esc, i, level, p)
			}
		}
	})
}

// upstreamURL builds the upstream URL as proxy/upstream.go does: the escaped
// path appended to the base's escaped path in RawPath, the decoded one in
// Path. The result is parsed back from its string form, as the HTTP client
// sees it.
func upstreamURL(t *testing.T, base *url.URL, r *mapping.Request) *url.URL {
	t.Helper()
	decoded, err := url.PathUnescape(r.Path)
	if err != nil {
		t.Fatalf("Path %q is not a valid escaped path: %v", r.Path, err)
	}
	u := *base
	u.Path += decoded
	u.RawPath = base.EscapedPath() + r.Path
	u.RawQuery = r.Query
	parsed, err := url.Parse(u.String())
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", u.String(), err)
	}
	return parsed
}

// percentDecode decodes every valid %XX escape and keeps anything else, as
// lenient servers and proxies do.
func percentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(n))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

var queryStyles = []string{"repeat", "comma", "space", "pipe", "json", "deepObject", "explode"}

// FuzzQueryValue sends any JSON value as a query parameter in every style and
// checks that the query is well formed, cannot smuggle in other parameters or
// reach the path, and carries a string exactly.
func FuzzQueryValue(f *testing.F) {
	tools := make(map[string]*mapping.Tool, len(queryStyles))
	for _, style := range queryStyles {
		tools[style] = mustCompileF(f, mapping.Spec{
			Name: "search", Upstream: "api", Path: "/search",
			Input:      objectSchema(map[string]any{"q": map[string]any{}}),
			Query:      map[string]string{"q": "args.q"},
			QueryStyle: map[string]string{"q": style},
		})
	}
	for _, s := range []string{
		`"rex"`, `""`, `"a b&c=d#e?f/g"`, `"a+b%20c%zz"`, `"\r\nX: y"`, `"\u0000\u001f\u007f"`, `"a;b"`,
		`"ü\u2028\ud800"`, `"\ufffd"`, `"q[x]=1"`, `"&q=evil"`,
		`0`, `-0`, `1.5`, `1e400`, `-1e-400`, `123456789012345678901234567890`, `9007199254740993`, `1E2`,
		`true`, `null`, `[]`, `{}`, `[1,"a",null,true,[2],{"k":"v"}]`, `["a,b","c|d","e f"]`,
		`{"a":1,"b":[1,2],"c":{"d":"e"}}`, `{"":"empty key","x]&y[":"z","q":"shadow","api_key":"injected"}`,
		`{"a":{"b":{"c":{"d":[{"e":null}]}}}}`, `[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !json.Valid([]byte(raw)) {
			return
		}
		args := `{"q":` + raw + `}`
		d := json.NewDecoder(strings.NewReader(raw))
		d.UseNumber()
		var q any
		if err := d.Decode(&q); err != nil {
			return // valid but deeper than the decoder allows
		}
		for _, style := range queryStyles {
			r, err := tools[style].BuildRequest(json.RawMessage(args), nil)
			if err != nil {
				var ee *mapping.EvalError
				var ae *mapping.ArgumentError
				if !errors.As(err, &ee) && !errors.As(err, &ae) {
					t.Fatalf("%s: BuildRequest(%s) error %T %v, want *EvalError or *ArgumentError", style, args, err, err)
				}
				continue
			}
			if r.Path != "/search" {
				t.Fatalf("%s: q=%s changed the path to %q", style, raw, r.Path)
			}
			values := checkQuery(t, r.Query)
			if style != "explode" { // explode makes an object's keys parameters by design
				for k := range values {
					if k != "q" && !strings.HasPrefix(k, "q[") {
						t.Fatalf("%s: q=%s added parameter %q: %s", style, raw, k, r.Query)
					}
				}
			}
			if s, ok := q.(string); ok {
				want := url.Values{"q": {s}}
				if got := values; !equalValues(got, want) {
					t.Fatalf("%s: q=%s: query %q parses to %q, want %q", style, raw, r.Query, got, want)
				}
			}
		}
	})
}

// checkQuery checks that an encoded query parses, re-encodes to itself and
// holds nothing but query-safe bytes. The space style separates values with
// %20 where url.Values writes a space as +; both mean a space, so %20 is
// compared as +. (A literal "%20" in a value is encoded as %2520, which holds
// no %20 escape.)
func checkQuery(t *testing.T, query string) url.Values {
	t.Helper()
	for i := 0; i < len(query); i++ {
		c := query[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~%+=&", c) >= 0) {
			t.Fatalf("query %.300q has byte %q at %d", query, c, i)
		}
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		t.Fatalf("url.ParseQuery(%.300q) of %d bytes: %v", query, len(query), err)
	}
	if again := values.Encode(); again != strings.ReplaceAll(query, "%20", "+") {
		t.Fatalf("query %.300q re-encodes as %.300q", query, again)
	}
	return values
}

func equalValues(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || len(va) != len(vb) {
			return false
		}
		for i := range va {
			if va[i] != vb[i] {
				return false
			}
		}
	}
	return true
}

// FuzzHeaderValue maps any string to a header and checks that it can never
// split the header block: a value is either refused with an *EvalError or
// written and read back as one header.
func FuzzHeaderValue(f *testing.F) {
	tool := mustCompileF(f, mapping.Spec{
		Name: "tagged", Upstream: "api", Path: "/items",
		Input:   objectSchema(map[string]any{"v": map[string]any{"type": "string"}}, "v"),
		Headers: map[string]string{"X-Tag": "args.v"},
	})
	for _, s := range []string{
		"blue", "", " padded\t", "a, b", "\t", "é ü", "\xff", "\u0085", "\u2028", "\ufeff",
		"a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b", "\x7f", "\x1b[31m", "a\r\n\r\nGET / HTTP/1.1",
		"%0d%0a", strings.Repeat("x", 8192),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		args, err := json.Marshal(map[string]string{"v": v})
		if err != nil {
			t.Fatal(err)
		}
		var sent map[string]string
		if err := json.Unmarshal(args, &sent); err != nil {
			t.Fatal(err)
		}
		v = sent["v"] // what the tool receives: invalid UTF-8 became U+FFFD
		r, err := tool.BuildRequest(args, nil)
		if err != nil {
			var ee *mapping.EvalError
			if !errors.As(err, &ee) {
				t.Fatalf("BuildRequest(%s) error %T %v, want *mapping.EvalError", args, err, err)
			}
			if strings.IndexFunc(v, func(r rune) bool { return isControl(r) && r != '\t' }) < 0 {
				t.Fatalf("value %q without control characters refused: %v", v, err)
			}
			return
		}
		got := r.Header.Values("X-Tag")
		if len(got) != 1 {
			t.Fatalf("value %q gave X-Tag %q, want one value", v, got)
		}
		for i := 0; i < len(got[0]); i++ {
			// RFC 9110 field-value: HTAB, SP, VCHAR, obs-text.
			if c := got[0][i]; c != '\t' && (c < 0x20 || c == 0x7f) {
				t.Fatalf("value %q gave X-Tag %q with byte %q", v, got[0], c)
			}
		}
		req, err := http.NewRequest(http.MethodGet, fuzzBaseURL+r.Path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = r.Header.Clone()
		var buf bytes.Buffer
		if err := req.Write(&buf); err != nil {
			t.Fatalf("writing a request with X-Tag %q: %v", got[0], err)
		}
		back, err := http.ReadRequest(bufio.NewReader(&buf))
		if err != nil {
			t.Fatalf("reading back a request with X-Tag %q: %v\n%s", got[0], err, buf.Bytes())
		}
		for k := range back.Header {
			if k != "X-Tag" && k != "User-Agent" {
				t.Fatalf("value %q added header %q:\n%s", v, k, buf.Bytes())
			}
		}
		// A reader drops the white space around a field value.
		if want := strings.Trim(v, " \t"); back.Header.Get("X-Tag") != want {
			t.Fatalf("value %q read back as %q, want %q", v, back.Header.Get("X-Tag"), want)
		}
	})
}

// FuzzArguments sends any bytes as the arguments of a tool with a realistic
// schema and a JSON body, and checks that the outcome is a request or a
// typed error, within bounds, and that the body carries the arguments
// faithfully: integers digit for digit.
func FuzzArguments(f *testing.F) {
	str := map[string]any{"type": "string"}
	tool := mustCompileF(f, mapping.Spec{
		Name: "create_pet", Upstream: "api", Method: "POST", Path: "/pets",
		Input: objectSchema(map[string]any{
			"name":  map[string]any{"type": "string", "maxLength": 64},
			"count": map[string]any{"type": "integer", "minimum": 1},
			"id":    map[string]any{"type": "integer"},
			"limit": map[string]any{"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
			"kind":  map[string]any{"type": "string", "enum": []any{"dog", "cat", "bird"}, "default": "dog"},
			"tags":  map[string]any{"type": "array", "items": str, "maxItems": 20},
			"ids":   map[string]any{"type": "array", "items": map[string]any{"type": "integer"}},
			"score": map[string]any{"type": "number"},
			"owner": objectSchema(map[string]any{
				"id":   map[string]any{"type": "integer"},
				"name": str,
				"vip":  map[string]any{"type": "boolean", "default": false},
			}, "id"),
		}, "name"),
		Body: map[string]any{
			"name": "args.name", "count": "args.count", "id": "args.id", "limit": "args.limit",
			"kind": "args.kind", "tags": "args.tags", "ids": "args.ids", "score": "args.score",
			"owner": "args.owner",
		},
	})
	for _, s := range []string{
		`{"name":"Rex"}`,
		`{"name":"Rex","count":3,"id":-7,"limit":100,"kind":"cat","tags":["a","b"],"ids":[1,2],"score":0.5,"owner":{"id":1,"name":"Ann"}}`,
		`{"name":"Rex","id":123456789012345678901234567890,"ids":[9007199254740993,-9223372036854775809,18446744073709551616]}`,
		`{"name":"Rex","id":1e30,"count":1.0,"ids":[1E2,1e+2,100e-2,-0,0.0]}`,
		`{"name":"Rex","id":9007199254740993.0,"owner":{"id":9223372036854775807,"extra":[1e400,-1e-400]}}`,
		`{"name":"Rex","score":0.1,"owner":{"id":1,"nested":{"a":{"b":{"c":{"d":[[[[[[[[[[1]]]]]]]]]]}}}}}}`,
		`{"name":"Rex","count":0}`, `{"name":"Rex","count":1.5}`, `{"name":"Rex","kind":"fish"}`,
		`{"name":"Rex","owner":{}}`, `{"name":"Rex","tags":[1]}`, `{"name":"Rex","extra":1}`,
		`{"name":"` + strings.Repeat("x", 65) + `"}`, `{"name":"\ud800\udc00\u0000"}`,
		`{"name":"a","name":"b"}`, `{"name":"Rex"} {}`, `{"name":"Rex"`, `[]`, `null`, ``, `"x"`, `{}`,
		`{"name":"Rex","owner":` + strings.Repeat(`{"id":1,"x":`, 200) + `1` + strings.Repeat(`}`, 200) + `}`,
		`{"name":"Rex","owner":{"id":1,"x":` + strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001) + `}}`,
		`{"name":"Rex"}}`, `{"name":"Rex"}]`, `{"name":"Rex"} `,
	} {
		f.Add([]byte(s))
	}
	fields := []string{"name", "count", "id", "limit", "kind", "tags", "ids", "score", "owner"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var r *mapping.Request
		var err error
		bounded(t, fmt.Sprintf("BuildRequest(%.200q)", raw), func() {
			r, err = tool.BuildRequest(raw, nil)
		})
		if err != nil {
			var ae *mapping.ArgumentError
			var ee *mapping.EvalError
			if !errors.As(err, &ae) && !errors.As(err, &ee) {
				t.Fatalf("BuildRequest(%q) error %T %v, want *ArgumentError or *EvalError", raw, err, err)
			}
			return
		}
		if r == nil {
			t.Fatalf("BuildRequest(%q) returned neither a request nor an error", raw)
		}
		if !json.Valid(raw) {
			t.Fatalf("BuildRequest(%q) accepted arguments that are not one JSON value", raw)
		}
		if r.ContentType != "application/json" || !json.Valid(r.Body) || !utf8.Valid(r.Body) {
			t.Fatalf("BuildRequest(%q): body %q (%s) is not valid JSON", raw, r.Body, r.ContentType)
		}
		in := decodeNumbers(t, raw).(map[string]any)
		body := decodeNumbers(t, r.Body).(map[string]any)
		for _, k := range fields {
			want, ok := in[k]
			if !ok {
				continue // absent, or filled by a default
			}
			if err := sameJSON(want, body[k]); err != nil {
				t.Fatalf("argument %s: %v\narguments %s\nbody %s", k, err, raw, r.Body)
			}
		}
	})
}

func decodeNumbers(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	return v
}

// sameJSON compares decoded JSON values: integers exactly (1.0 and 1 are the
// same integer, 9007199254740993 and 9007199254740992 are not), other
// numbers as float64, everything else exactly.
func sameJSON(want, got any) error {
	switch w := want.(type) {
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return fmt.Errorf("number %s became %#v", w, got)
		}
		if w == g {
			return nil
		}
		wr, ok1 := new(big.Rat).SetString(string(w))
		gr, ok2 := new(big.Rat).SetString(string(g))
		if ok1 && ok2 && wr.IsInt() {
			if wr.Cmp(gr) != 0 {
				return fmt.Errorf("integer %s became %s", w, g)
			}
			return nil
		}
		wf, err1 := strconv.ParseFloat(string(w), 64)
		gf, err2 := strconv.ParseFloat(string(g), 64)
		if err1 != nil || err2 != nil || wf != gf {
			return fmt.Errorf("number %s became %s", w, g)
		}
		return nil
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("object became %#v", got)
		}
		for k, e := range w {
			if err := sameJSON(e, g[k]); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("array of %d became %#v", len(w), got)
		}
		for i := range w {
			if err := sameJSON(w[i], g[i]); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	}
	if want != got {
		return fmt.Errorf("%#v became %#v", want, got)
	}
	return nil
}

// shapeVariant is a response mapping FuzzShapeResponse runs against.
type shapeVariant struct {
	name         string
	result, text string
}

var shapeVariants = []shapeVariant{
	{name: "plain"},
	{name: "result", result: `body`},
	{name: "text", text: `"status " + string(status) + ": " + toJSON(body)`},
	{name: "result and text", result: `{"data": body, "status": status, "type": headers["content-type"]}`, text: `string(body)`},
}

var shapeContentTypes = []string{
	"", "application/json", "application/json; charset=utf-8", "application/problem+json",
	"text/plain; charset=utf-8", "text/html", "text/csv", "image/png", "application/octet-stream",
	"application/pdf", "application/x-ndjson", "bogus;;=", "application/json; charset=latin1",
}

// shapeTools caches compiled tools by variant and max_result_bytes, so that
// fuzzing does not recompile them on every input.
var shapeTools sync.Map // shapeKey → *mapping.Tool

type shapeKey struct{ variant, maxBytes int }

func shapeTool(t *testing.T, variant, maxBytes int) *mapping.Tool {
	key := shapeKey{variant, maxBytes}
	if tool, ok := shapeTools.Load(key); ok {
		return tool.(*mapping.Tool)
	}
	v := shapeVariants[variant]
	tool, err := mapping.Compile(mapping.Spec{
		Name: "shape", Upstream: "api", Path: "/x",
		Response:       mapping.ResponseSpec{Result: v.result, Text: v.text},
		MaxResultBytes: maxBytes,
	})
	if err != nil {
		t.Fatalf("Compile %s: %v", v.name, err)
	}
	shapeTools.Store(key, tool)
	return tool
}

// FuzzShapeResponse shapes any upstream answer and checks that a result is
// well-formed content within max_result_bytes.
func FuzzShapeResponse(f *testing.F) {
	type seed struct {
		status   uint16
		ct       byte
		body     string
		maxBytes uint16
	}
	for _, s := range []seed{
		{200, 1, `{"a":1}`, 4096},
		{200, 1, `[1,2,3,4,5,6,7,8,9,10]`, 8},
		{200, 0, `{"items":[1,2,3,4,5,6,7,8,9,10],"total":10}`, 30},
		{200, 1, `"a string"`, 3},
		{200, 1, `null`, 1},
		{200, 1, `123456789012345678901234567890`, 10},
		{200, 1, "\"\xff\xfe\"", 100},
		{200, 1, `"\ud800"`, 100},
		{200, 4, "héllo wörld ✓", 5},
		{200, 4, "\xff\xfe", 100},
		{200, 7, "\x89PNG\r\n\x1a\n", 4},
		{200, 1, ` `, 10},
		{200, 1, `{"a":1} {"b":2}`, 100},
		{200, 1, `{"a":`, 100},
		{204, 0, ``, 1},
		{200, 1, strings.Repeat(`[`, 500) + strings.Repeat(`]`, 500), 100},
		{200, 1, `{"a":"` + strings.Repeat("é", 100) + `"}`, 21},
		{404, 1, `{"error":"not found"}`, 10},
		{500, 4, "\xff\xfe binary", 10},
		{301, 0, "moved", 1},
	} {
		f.Add(s.status, s.ct, []byte(s.body), s.maxBytes, byte(0))
	}
	f.Fuzz(func(t *testing.T, status uint16, ct byte, body []byte, maxBytes uint16, variant byte) {
		code := 100 + (int(status)+400)%500    // 100..599, and 100..599 map to themselves
		limit := 1 + (int(maxBytes)+4095)%4096 // 1..4096, and 1..4096 map to themselves
		contentType := shapeContentTypes[int(ct)%len(shapeContentTypes)]
		v := int(variant) % len(shapeVariants)
		tool := shapeTool(t, v, limit)
		header := http.Header{}
		if contentType != "" {
			header.Set("Content-Type", contentType)
		}
		res := tool.ShapeResponse(nil, code, header, body)
		what := fmt.Sprintf("%s, HTTP %d, %q, max %d, body %q", shapeVariants[v].name, code, contentType, limit, body)
		if !utf8.ValidString(res.Text) {
			t.Fatalf("%s: text %q is not UTF-8", what, res.Text)
		}
		if res.IsError {
			return
		}
		if s := res.Structured; s != nil {
			// RFC 8259 JSON is UTF-8; encoding/json's Valid does not check that.
			if !json.Valid(s) || !utf8.Valid(s) || s[0] != '{' {
				t.Fatalf("%s: structured content %q is not a JSON object", what, s)
			}
			if wrapper := len(`{"result":}`); len(s) > limit+wrapper {
				t.Fatalf("%s: structured content is %d bytes, over %d + %d: %q", what, len(s), limit, wrapper, s)
			}
		}
		if res.Binary != nil && len(res.Binary.Data) > limit {
			t.Fatalf("%s: %d bytes of binary content, over %d", what, len(res.Binary.Data), limit)
		}
	})
}

// FuzzExpression compiles any expression as a query mapping and runs it
// against a few argument sets: it must not panic and must finish within
// fuzzDeadline and fuzzHeapLimit, whatever it computes.
func FuzzExpression(f *testing.F) {
	kib := strings.Repeat("k", 1024)
	argSets := []string{
		`{}`,
		`{"name":"Rex Dog","n":3,"tags":["a","b"],"obj":{"a":1,"b":null,"c":"x"},"big":123456789012345678901234567890,"f":1.5,"deep":[[[[1]]]]}`,
		`{"s":"` + kib + `","n":1000000,"items":[{"w":1},{"w":2}],"neg":-1}`,
	}
	for _, s := range []string{
		`args.name`, `args.missing ?? "default"`, `"prefix-" + args.name + "-suffix"`, `args.n * 2 + 1`,
		`map(args.tags, upper(#))`, `filter(args.tags, # != "a")`, `reduce(1..10, #acc + #, 0)`,
		`join(map(1..3, string(#)), ",")`, `repeat("ab", args.n)`, `replace(args.name, " ", "_")`,
		`toJSON(args.obj)`, `let x = args.n; x * x`, `args.obj.a > 0 ? "yes" : "no"`, `len(args.tags)`,
		`urlEncode(args.name)`, `pathEscape("a/b")`, `camelCase(args.name)`, `pick(args.obj, "a")`,
		`merge(args.obj, {"d": true})`, `default(args.missing, [])`, `compact(args.obj)`, `toJSON(args.deep)`,
		`formatTime(1715000000, "RFC3339")`, `split("a,b,c", ",")`, `sortBy(args.items, .w)`, `args.big`,
		`1..1000000000`, `len(1..args.n)`, `::repeat("x", 10)`, `"x" | repeat(3)`, `repeat(args.s, 1024)`,
		`replace(args.s, "", "y")`, `join(map(1..100, args.s), "-")`, `toJSON(map(1..100, [[[#]]]))`,
		`{"a": args.tags, "b": {"c": nil}}`, `[nil, 1, "x", true]`, `fromJSON("[1,2]")`, `1/0`, `args.neg % 0`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var (
			reqs []*mapping.Request
			errs []error
		)
		bounded(t, fmt.Sprintf("expression %.200q", src), func() {
			tool, err := mapping.Compile(mapping.Spec{
				Name: "t", Upstream: "u",
				Input: map[string]any{"type": "object", "additionalProperties": true},
				Query: map[string]string{"q": src},
			})
			if err != nil {
				return
			}
			for _, args := range argSets {
				r, err := tool.BuildRequest(json.RawMessage(args), nil)
				reqs, errs = append(reqs, r), append(errs, err)
			}
		})
		for i, err := range errs {
			if err != nil {
				var ee *mapping.EvalError
				if !errors.As(err, &ee) {
					t.Fatalf("%q: BuildRequest(%s) error %T %v, want *mapping.EvalError", src, argSets[i], err, err)
				}
				continue
			}
			checkQuery(t, reqs[i].Query)
		}
	})
}

// heapBytes is the heap occupied by objects, live or not yet swept.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// bounded runs f and fails the test if f panics, runs longer than
// fuzzDeadline or grows the heap by more than fuzzHeapLimit. f cannot be
// stopped, so after such a failure it keeps running, while the fuzz worker
// minimizes the input or the remaining cases run; a watcher then crashes the
// test binary if the heap grows by fuzzHeapCrash, rather than let a leaked
// evaluation exhaust the machine's memory. go test -fuzz records the input
// either way.
func bounded(t *testing.T, what string, f func()) {
	t.Helper()
	type outcome struct {
		panicked any
		stack    []byte
	}
	done := make(chan *outcome, 1)
	start := heapBytes()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- &outcome{panicked: p, stack: debug.Stack()}
				return
			}
			done <- nil
		}()
		f()
	}()
	deadline := time.NewTimer(fuzzDeadline)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	fail := func(format string, args ...any) {
		go func() {
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					if h := heapBytes(); h > start+fuzzHeapCrash {
						panic(fmt.Sprintf("%s: still running after its case failed, grew the heap by %d MiB", what, (h-start)>>20))
					}
				}
			}
		}()
		t.Helper()
		t.Fatalf(format, args...)
	}
	for {
		select {
		case o := <-done:
			tick.Stop()
			if o != nil {
				t.Fatalf("%s panicked: %v\n%s", what, o.panicked, o.stack)
			}
			return
		case <-tick.C:
			if h := heapBytes(); h > start+fuzzHeapLimit {
				fail("%s: grew the heap by %d MiB, over the limit of %d MiB (unbounded evaluation)", what, (h-start)>>20, fuzzHeapLimit>>20)
			}
		case <-deadline.C:
			fail("%s: still running after %v (unbounded evaluation)", what, fuzzDeadline)
		}
	}
}
