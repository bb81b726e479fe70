package mapping

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr"
)

// maxGrowth is the most bytes one call of a bounded function may produce
// (repeat) or add to its input (replace, join, toJSON): 1 MiB.
const maxGrowth = 1 << 20

// funcDoc documents one library function and holds its implementation.
type funcDoc struct {
	Name string
	// Signature is the call as users read it, with JSON-ish types.
	Signature   string
	Description string
	// Replaces is set for bounded versions of expr builtins.
	Replaces bool
	// Examples are evaluated against [exampleEnv].
	Examples []funcExample

	fn func(args ...any) (any, error)
	// types are the typed signatures expr checks calls against at compile
	// time, e.g. new(func(string) string); the first that fits is used.
	types []any
}

// funcExample is an expression and its result as JSON.
type funcExample struct {
	Expr   string
	Result string
}

// exampleEnv is the fixed environment the examples of [functions] run in.
func exampleEnv() *RequestEnv {
	return &RequestEnv{
		Args: map[string]any{
			"name": "Rex Dog",
			"tags": []any{"a", "b"},
			"n":    3,
			"obj":  map[string]any{"a": 1, "b": nil, "c": "x"},
		},
		Claims: map[string]any{"sub": "user-1"},
	}
}

// libraryOptions returns the expr options that register the library and
// disable the builtins it replaces. Append them to every expr.Compile call.
//
// Expressions are written by the operator, but their inputs (args) come from
// the model. expr's MemoryBudget (conf.DefaultMemoryBudget, 1e6 units, the VM
// default) counts elements of ranges, array and map literals, and the results
// of some builtins; it is checked before allocating for ranges (1..1e9 fails
// with "memory budget exceeded" without allocating) but after the call for
// builtins, and it does not see functions registered with expr.Function. What
// was checked, builtin by builtin, for results much larger than their input:
//
//   - repeat(s, n): n×len(s) bytes. expr refuses n > 1e6 but not a long s, so
//     repeat(args.s, 1000000) with a 1 MB argument allocates 1 TB before the
//     budget check. Replaced: results over 1 MiB are refused before allocating.
//   - replace(s, old, new): up to len(s)×len(new) bytes (old "" inserts new
//     between every rune). Replaced: refused when the result would exceed
//     both 1 MiB and len(s).
//   - join(arr, glue): (len(arr)-1)×len(glue) bytes of glue. Replaced: refused
//     when the glue would add more than 1 MiB.
//   - toJSON(v): indentation costs two bytes per nesting level per line, so
//     2 KB of nested arrays becomes 2 MB. Replaced: the indented size is
//     computed from the compact encoding and refused when indentation would
//     add more than 1 MiB; the output is byte for byte expr's.
//   - the .. operator: covered by the memory budget (checked before
//     allocating; see TestBoundedEvaluation).
//   - linear in their input, left alone: trim*, upper, lower, split*,
//     indexOf, hasPrefix, toBase64, fromBase64, fromJSON, string, keys,
//     values, toPairs, fromPairs, concat, flatten, reverse, uniq, sort*,
//     groupBy, take, first, last, get, min, max, mean, median, date, duration,
//     timezone, matches (Go regexps reject huge repeat counts and run in
//     linear time). uniq is quadratic in time, not in memory.
//   - this library: every function is linear in its input (case conversion
//     and urlEncode grow a string at most threefold).
//
// Bounds are per call. A loop still multiplies them: map(args.items,
// repeat("-", #.width)) may build len(items) × 1 MiB, and string
// concatenation with + is not counted by expr at all. Bounding a whole
// evaluation needs a per-run byte budget carried in the environment (a
// context field and expr.WithContext), which RequestEnv does not have yet.
//
// A replacement is registered with expr.Function under the builtin's name and
// the builtin is also disabled: an expr.Function overrides a builtin for
// name(...) calls, but the ::name(...) syntax reaches a builtin that is not
// disabled.
func libraryOptions() []expr.Option {
	var opts []expr.Option
	for _, f := range functions {
		opts = append(opts, expr.Function(f.Name, f.fn, f.types...))
		if f.Replaces {
			opts = append(opts, expr.DisableBuiltin(f.Name))
		}
	}
	return opts
}

// functions is the library api2mcp adds to expr's builtins. It is the single
// source: each entry holds a function's documentation, examples, Go
// implementation and typed signatures; [libraryOptions] builds the expr
// options from it, so a function cannot exist without examples, and
// TestFuncExamples runs every example against [exampleEnv]. Names are
// lowerCamelCase like expr's builtins (toJSON, fromBase64) and do not repeat
// them, except the bounded replacements marked Replaces.
var functions = []funcDoc{
	{
		Name:        "urlEncode",
		Signature:   "urlEncode(s string) string",
		Description: "Escapes s for a query component (space becomes +), as url.QueryEscape.",
		Examples: []funcExample{
			{`urlEncode(args.name)`, `"Rex+Dog"`},
			{`urlEncode("a&b=c/é")`, `"a%26b%3Dc%2F%C3%A9"`},
		},
		fn:    stringFunc("urlEncode", url.QueryEscape),
		types: []any{new(func(string) string)},
	},
	{
		Name:        "urlDecode",
		Signature:   "urlDecode(s string) string",
		Description: "Reverses urlEncode (+ becomes space); fails on a malformed % escape.",
		Examples: []funcExample{
			{`urlDecode("Rex+Dog%21")`, `"Rex Dog!"`},
			{`urlDecode(urlEncode(args.name)) == args.name`, `true`},
		},
		fn:    stringErrFunc("urlDecode", url.QueryUnescape),
		types: []any{new(func(string) string)},
	},
	{
		Name:        "pathEscape",
		Signature:   "pathEscape(s string) string",
		Description: "Escapes s for one path segment (space becomes %20, / becomes %2F), as url.PathEscape.",
		Examples: []funcExample{
			{`pathEscape(args.name)`, `"Rex%20Dog"`},
			{`"/files/" + pathEscape("a/b c.txt")`, `"/files/a%2Fb%20c.txt"`},
		},
		fn:    stringFunc("pathEscape", url.PathEscape),
		types: []any{new(func(string) string)},
	},
	{
		Name:        "file",
		Signature:   "file(data string, filename string[, content_type string]) file",
		Description: "A file part for a multipart body; content_type defaults to application/octet-stream. Binary data usually arrives base64-encoded: file(fromBase64(args.content), args.name).",
		Examples: []funcExample{
			{`file("hello", "a.txt", "text/plain")`, `{"filename":"a.txt","content_type":"text/plain","data":"hello"}`},
			{`file(fromBase64("aGk="), args.name)`, `{"filename":"Rex Dog","content_type":"application/octet-stream","data":"hi"}`},
		},
		fn:    fileFunc,
		types: []any{new(func(string, string) FilePart), new(func(string, string, string) FilePart)},
	},
	{
		Name:        "toBase64URL",
		Signature:   "toBase64URL(s string) string",
		Description: "Encodes s as unpadded URL-safe base64 (RFC 4648 §5), as used in JWTs and URL tokens.",
		Examples: []funcExample{
			{`toBase64URL("a?b>")`, `"YT9iPg"`},
			{`toBase64URL(args.name)`, `"UmV4IERvZw"`},
		},
		fn:    stringFunc("toBase64URL", func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }),
		types: []any{new(func(string) string)},
	},
	{
		Name:        "fromBase64URL",
		Signature:   "fromBase64URL(s string) string",
		Description: "Decodes URL-safe base64, padded or not.",
		Examples: []funcExample{
			{`fromBase64URL("YT9iPg")`, `"a?b>"`},
			{`fromBase64URL("YT9iPg==")`, `"a?b>"`},
		},
		fn: stringErrFunc("fromBase64URL", func(s string) (string, error) {
			b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
			return string(b), err
		}),
		types: []any{new(func(string) string)},
	},
	{
		Name:      "formatTime",
		Signature: "formatTime(t time|string|int, layout string) string|int",
		Description: "Formats t (a time, an RFC 3339 string or unix seconds) with a Go layout or a layout name: " +
			"RFC3339, RFC3339Nano, RFC1123, HTTP (RFC 1123 in GMT, for HTTP headers), DateOnly, DateTime, unix or unixMilli (integers).",
		Examples: []funcExample{
			{`formatTime("2024-05-06T07:08:09+02:00", "DateOnly")`, `"2024-05-06"`},
			{`formatTime(1715000000, "RFC3339")`, `"2024-05-06T12:53:20Z"`},
			{`formatTime("2024-05-06T07:08:09Z", "unix")`, `1714979289`},
			{`formatTime("2024-05-06T07:08:09.5Z", "unixMilli")`, `1714979289500`},
			{`formatTime("2024-05-06T09:08:09+02:00", "HTTP")`, `"Mon, 06 May 2024 07:08:09 GMT"`},
			{`formatTime(date("2024-05-06"), "02 Jan 2006")`, `"06 May 2024"`},
		},
		fn:    formatTimeFunc,
		types: []any{new(func(any, string) any)},
	},
	{
		Name:      "parseTime",
		Signature: "parseTime(s string|int, layout string) time",
		Description: "Parses s with a Go layout or a layout name (as formatTime); for unix and unixMilli s is an integer " +
			"or a string of digits. A time without a zone is UTC.",
		Examples: []funcExample{
			{`parseTime("2024-05-06", "DateOnly")`, `"2024-05-06T00:00:00Z"`},
			{`parseTime(1714979289, "unix")`, `"2024-05-06T07:08:09Z"`},
			{`parseTime("1714979289500", "unixMilli")`, `"2024-05-06T07:08:09.5Z"`},
			{`parseTime("Mon, 06 May 2024 07:08:09 GMT", "HTTP").Unix()`, `1714979289`},
			{`parseTime("06/05/2024", "02/01/2006").Month().String()`, `"May"`},
		},
		fn:    parseTimeFunc,
		types: []any{new(func(any, string) time.Time)},
	},
	{
		Name:        "camelCase",
		Signature:   "camelCase(s string) string",
		Description: "Joins the words of s as lowerCamelCase; words split at spaces, punctuation and case changes.",
		Examples: []funcExample{
			{`camelCase(args.name)`, `"rexDog"`},
			{`camelCase("user_id")`, `"userId"`},
			{`camelCase("HTTP server-name")`, `"httpServerName"`},
		},
		fn:    stringFunc("camelCase", toCamelCase),
		types: []any{new(func(string) string)},
	},
	{
		Name:        "snakeCase",
		Signature:   "snakeCase(s string) string",
		Description: "Joins the lowercased words of s with _.",
		Examples: []funcExample{
			{`snakeCase(args.name)`, `"rex_dog"`},
			{`snakeCase("userID")`, `"user_id"`},
			{`snakeCase("HTTPServer2Go")`, `"http_server2_go"`},
		},
		fn:    stringFunc("snakeCase", func(s string) string { return joinWords(s, "_", strings.ToLower) }),
		types: []any{new(func(string) string)},
	},
	{
		Name:        "kebabCase",
		Signature:   "kebabCase(s string) string",
		Description: "Joins the lowercased words of s with -.",
		Examples: []funcExample{
			{`kebabCase(args.name)`, `"rex-dog"`},
			{`kebabCase("createdAt")`, `"created-at"`},
		},
		fn:    stringFunc("kebabCase", func(s string) string { return joinWords(s, "-", strings.ToLower) }),
		types: []any{new(func(string) string)},
	},
	{
		Name:        "titleCase",
		Signature:   "titleCase(s string) string",
		Description: "Joins the words of s with spaces, each with its first letter in upper case (acronyms are kept).",
		Examples: []funcExample{
			{`titleCase("rex_dog")`, `"Rex Dog"`},
			{`titleCase("userID")`, `"User ID"`},
		},
		fn:    stringFunc("titleCase", func(s string) string { return joinWords(s, " ", upperFirst) }),
		types: []any{new(func(string) string)},
	},
	{
		Name:        "pick",
		Signature:   "pick(obj object, keys ...string) object",
		Description: "A copy of obj with only the given keys (strings, or one array of strings); nil stays nil.",
		Examples: []funcExample{
			{`pick(args.obj, "a", "c", "z")`, `{"a":1,"c":"x"}`},
			{`pick(args.obj, args.tags)`, `{"a":1,"b":null}`},
			{`pick(args, ["name"])`, `{"name":"Rex Dog"}`},
		},
		fn: func(args ...any) (any, error) { return pickOmit("pick", true, args) },
		types: []any{
			new(func(map[string]any, ...string) map[string]any),
			new(func(map[string]any, []any) map[string]any),
			new(func(map[string]any, []string) map[string]any),
		},
	},
	{
		Name:        "omit",
		Signature:   "omit(obj object, keys ...string) object",
		Description: "A copy of obj without the given keys (strings, or one array of strings); nil stays nil.",
		Examples: []funcExample{
			{`omit(args.obj, "b")`, `{"a":1,"c":"x"}`},
			{`omit(args, ["obj", "tags", "n"])`, `{"name":"Rex Dog"}`},
		},
		fn: func(args ...any) (any, error) { return pickOmit("omit", false, args) },
		types: []any{
			new(func(map[string]any, ...string) map[string]any),
			new(func(map[string]any, []any) map[string]any),
			new(func(map[string]any, []string) map[string]any),
		},
	},
	{
		Name:      "default",
		Signature: "default(v any, d any) any",
		Description: "d when v is nil, an empty string, an empty array or an empty object; otherwise v " +
			"(?? replaces only nil).",
		Examples: []funcExample{
			{`default(args.missing, "all")`, `"all"`},
			{`default("", "all")`, `"all"`},
			{`default([], args.tags)`, `["a","b"]`},
			{`default({}, 1)`, `1`},
			{`default(0, 1)`, `0`},
			{`default(args.name, "nobody")`, `"Rex Dog"`},
		},
		fn:    defaultFunc,
		types: []any{new(func(any, any) any)},
	},
	{
		Name:        "compact",
		Signature:   "compact(v any) any",
		Description: "A copy of v without nil values in objects and arrays, at every depth; other values are returned as they are.",
		Examples: []funcExample{
			{`compact(args.obj)`, `{"a":1,"c":"x"}`},
			{`compact({"q": args.missing, "list": [1, nil, {"x": nil}]})`, `{"list":[1,{}]}`},
			{`compact(nil)`, `null`},
		},
		fn:    func(args ...any) (any, error) { return compactValue(args[0]), nil },
		types: []any{new(func(any) any)},
	},
	{
		// renameKeys maps argument names back to an API's real property
		// names when those are not portable tool-schema keys (OpenAPI import).
		Name:        "renameKeys",
		Signature:   "renameKeys(v any, names object) any",
		Description: "A copy of v whose object keys are renamed by names: each entry maps a key to {to: new name, keys: names for its value}; arrays are renamed element by element; other keys and values are kept.",
		Examples: []funcExample{
			{`renameKeys({"a_b": 1, "c": [{"x_y": 2}]}, {"a_b": {"to": "a b"}, "c": {"keys": {"x_y": {"to": "x-y"}}}})`, `{"a b":1,"c":[{"x-y":2}]}`},
			{`renameKeys(args.missing, {"a": {"to": "b"}})`, `null`},
		},
		fn: func(args ...any) (any, error) {
			names, _ := args[1].(map[string]any)
			return renameKeys(args[0], names, 0)
		},
		types: []any{new(func(any, map[string]any) any)},
	},
	{
		// merge builds a request body from the arguments plus fixed or
		// renamed fields without listing every argument, e.g.
		// merge(omit(args, "id"), {"type": "dog"}); expr has no way to combine
		// objects.
		Name:        "merge",
		Signature:   "merge(objs ...object) object",
		Description: "A new object with the keys of every argument in turn (later ones win); nil arguments are skipped.",
		Examples: []funcExample{
			{`merge(args.obj, {"b": 2, "d": true})`, `{"a":1,"b":2,"c":"x","d":true}`},
			{`merge(pick(args, "name"), args.missing, {"kind": "dog"})`, `{"name":"Rex Dog","kind":"dog"}`},
		},
		fn:    mergeFunc,
		types: []any{new(func(...map[string]any) map[string]any)},
	},
	{
		Name:        "repeat",
		Signature:   "repeat(s string, n int) string",
		Description: "s repeated n times; refuses results over 1 MiB (replaces expr's builtin).",
		Replaces:    true,
		Examples: []funcExample{
			{`repeat("ab", args.n)`, `"ababab"`},
			{`repeat("x", 0)`, `""`},
		},
		fn:    repeatFunc,
		types: []any{strings.Repeat},
	},
	{
		Name:        "replace",
		Signature:   "replace(s string, old string, new string[, n int]) string",
		Description: "s with every (or the first n) old replaced by new; refuses to grow s past 1 MiB (replaces expr's builtin).",
		Replaces:    true,
		Examples: []funcExample{
			{`replace(args.name, " ", "_")`, `"Rex_Dog"`},
			{`replace("a-b-c", "-", "", 1)`, `"ab-c"`},
		},
		fn:    replaceFunc,
		types: []any{strings.Replace, strings.ReplaceAll},
	},
	{
		Name:        "join",
		Signature:   "join(arr []string[, glue string]) string",
		Description: "The strings of arr joined with glue (default empty); refuses more than 1 MiB of glue (replaces expr's builtin).",
		Replaces:    true,
		Examples: []funcExample{
			{`join(args.tags, ",")`, `"a,b"`},
			{`join(["x", "y"])`, `"xy"`},
		},
		fn: joinFunc,
		types: []any{
			strings.Join,
			new(func([]any, string) string),
			new(func([]any) string),
			new(func([]string) string),
		},
	},
	{
		Name:        "toJSON",
		Signature:   "toJSON(v any) string",
		Description: "v as JSON indented by two spaces, like expr's builtin it replaces; refuses more than 1 MiB of indentation.",
		Replaces:    true,
		Examples: []funcExample{
			{`toJSON(args.tags)`, `"[\n  \"a\",\n  \"b\"\n]"`},
			{`toJSON({"a": []})`, `"{\n  \"a\": []\n}"`},
		},
		fn:    toJSONFunc,
		types: []any{new(func(any) string)},
	},
}

// stringFunc adapts a func(string) string.
func stringFunc(name string, f func(string) string) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		s, err := stringArg(name, args[0])
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

// stringErrFunc adapts a func(string) (string, error).
func stringErrFunc(name string, f func(string) (string, error)) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		s, err := stringArg(name, args[0])
		if err != nil {
			return nil, err
		}
		out, err := f(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return out, nil
	}
}

func stringArg(fn string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: want a string, got %s", fn, typeName(v))
	}
	return s, nil
}

// typeName names v's type in the words of JSON.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case string:
		return "string"
	case bool:
		return "bool"
	case json.Number:
		return "number"
	case time.Time:
		return "time"
	case time.Duration:
		return "duration"
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// intValue converts an integral number (an int type, an integral float or a
// json.Number) to int.
func intValue(v any) (int, bool) {
	switch v := v.(type) {
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return 0, false
		}
		return int(v), true
	case float32:
		return intValue(float64(v))
	case json.Number:
		i, err := v.Int64()
		return int(i), err == nil
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return int(rv.Int()), true
	case rv.CanUint() && rv.Uint() <= math.MaxInt:
		return int(rv.Uint()), true
	}
	return 0, false
}

// Time.

// timeLayouts are the layout names formatTime and parseTime accept besides Go
// layouts. "HTTP" is the date format of HTTP headers (If-Modified-Since,
// Retry-After), which RFC1123 gets wrong for UTC ("UTC" instead of "GMT").
var timeLayouts = map[string]string{
	"RFC3339":     time.RFC3339,
	"RFC3339Nano": time.RFC3339Nano,
	"RFC1123":     time.RFC1123,
	"HTTP":        http.TimeFormat,
	"DateOnly":    time.DateOnly,
	"DateTime":    time.DateTime,
}

// Two instants that differ in every layout element (year, month, day,
// weekday, hour, AM/PM, minute, second, fraction and zone), to tell a Go
// layout from a misspelt layout name.
var (
	layoutProbeA = time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	layoutProbeB = time.Date(2012, 11, 25, 16, 17, 18, 190000000, time.FixedZone("X", 3600))
)

// goLayout resolves a layout name or checks that layout is a Go layout.
func goLayout(fn, layout string) (string, error) {
	if l, ok := timeLayouts[layout]; ok {
		return l, nil
	}
	if layoutProbeA.Format(layout) == layoutProbeB.Format(layout) {
		return "", fmt.Errorf("%s: layout %q is neither a Go layout (such as \"2006-01-02\") nor one of RFC3339, RFC3339Nano, RFC1123, HTTP, DateOnly, DateTime, unix, unixMilli", fn, layout)
	}
	return layout, nil
}

func formatTimeFunc(args ...any) (any, error) {
	t, err := timeValue(args[0])
	if err != nil {
		return nil, fmt.Errorf("formatTime: %w", err)
	}
	layout, err := stringArg("formatTime", args[1])
	if err != nil {
		return nil, err
	}
	switch layout {
	case "unix":
		return int(t.Unix()), nil
	case "unixMilli":
		return int(t.UnixMilli()), nil
	case "HTTP":
		t = t.UTC()
	}
	l, err := goLayout("formatTime", layout)
	if err != nil {
		return nil, err
	}
	return t.Format(l), nil
}

// timeValue accepts a time, an RFC 3339 string or unix seconds.
func timeValue(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v, nil
	case string:
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("want an RFC 3339 time: %w", err)
		}
		return t, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1<<53 {
			return time.Time{}, fmt.Errorf("%v is not a unix time", v)
		}
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	if n, ok := intValue(v); ok {
		return time.Unix(int64(n), 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("want a time, an RFC 3339 string or unix seconds, got %s", typeName(v))
}

func parseTimeFunc(args ...any) (any, error) {
	layout, err := stringArg("parseTime", args[1])
	if err != nil {
		return nil, err
	}
	if layout == "unix" || layout == "unixMilli" {
		n, ok := intValue(args[0])
		if s, isString := args[0].(string); isString {
			n, ok = intValue(json.Number(s))
		}
		if !ok {
			return nil, fmt.Errorf("parseTime: want an integer for layout %s, got %s", layout, typeName(args[0]))
		}
		if layout == "unix" {
			return time.Unix(int64(n), 0).UTC(), nil
		}
		return time.UnixMilli(int64(n)).UTC(), nil
	}
	s, err := stringArg("parseTime", args[0])
	if err != nil {
		return nil, err
	}
	l, err := goLayout("parseTime", layout)
	if err != nil {
		return nil, err
	}
	t, err := time.Parse(l, s)
	if err != nil {
		return nil, fmt.Errorf("parseTime: %w", err)
	}
	return t, nil
}

// Case conversion.

// caseWords splits s into words: runs of letters and digits, broken where a
// lower-case letter or digit is followed by an upper-case one ("userId") and
// before the last capital of an acronym followed by a lower-case letter
// ("HTTPServer" is HTTP, Server).
func caseWords(s string) []string {
	rs := []rune(s)
	var out []string
	start := -1
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			if start >= 0 {
				out = append(out, string(rs[start:i]))
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		prev := rs[i-1]
		if unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev) ||
			unicode.IsUpper(prev) && i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
			out = append(out, string(rs[start:i]))
			start = i
		}
	}
	if start >= 0 {
		out = append(out, string(rs[start:]))
	}
	return out
}

func joinWords(s, sep string, f func(string) string) string {
	ws := caseWords(s)
	for i, w := range ws {
		ws[i] = f(w)
	}
	return strings.Join(ws, sep)
}

func upperFirst(w string) string {
	r, size := utf8.DecodeRuneInString(w)
	return string(unicode.ToUpper(r)) + w[size:]
}

func toCamelCase(s string) string {
	ws := caseWords(s)
	for i, w := range ws {
		w = strings.ToLower(w)
		if i > 0 {
			w = upperFirst(w)
		}
		ws[i] = w
	}
	return strings.Join(ws, "")
}

// Objects.

// objectValue returns v as a map[string]any; ok is false for a value that is
// not an object. nil gives a nil map.
func objectValue(v any) (map[string]any, bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case map[string]any:
		return v, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, false
	}
	m := make(map[string]any, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		m[it.Key().String()] = it.Value().Interface()
	}
	return m, true
}

// pickOmit implements pick (keep the keys) and omit (drop them).
func pickOmit(fn string, keep bool, args []any) (any, error) {
	obj, ok := objectValue(args[0])
	if !ok {
		return nil, fmt.Errorf("%s: want an object, got %s", fn, typeName(args[0]))
	}
	keyArgs := args[1:]
	if len(keyArgs) == 1 {
		if arr, ok := asSlice(keyArgs[0]); ok {
			keyArgs = arr
		}
	}
	keys := make(map[string]bool, len(keyArgs))
	for i, k := range keyArgs {
		s, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("%s: key %d is %s, want a string", fn, i+1, typeName(k))
		}
		keys[s] = true
	}
	if obj == nil {
		return nil, nil
	}
	out := make(map[string]any)
	for k, v := range obj {
		if keys[k] == keep {
			out[k] = v
		}
	}
	return out, nil
}

func mergeFunc(args ...any) (any, error) {
	out := make(map[string]any)
	for i, a := range args {
		obj, ok := objectValue(a)
		if !ok {
			return nil, fmt.Errorf("merge: argument %d is %s, want an object", i+1, typeName(a))
		}
		for k, v := range obj {
			out[k] = v
		}
	}
	return out, nil
}

func defaultFunc(args ...any) (any, error) {
	v := args[0]
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Invalid:
		return args[1], nil
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map:
		if rv.Len() == 0 {
			return args[1], nil
		}
	}
	return v, nil
}

// compactValue copies v without nil values in maps and []any, at every
// depth.
func compactValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if e != nil {
				out[k] = compactValue(e)
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			if e != nil {
				out = append(out, compactValue(e))
			}
		}
		return out
	}
	return v
}

// Bounded replacements of expr builtins.

func repeatFunc(args ...any) (any, error) {
	s, err := stringArg("repeat", args[0])
	if err != nil {
		return nil, err
	}
	n, ok := intValue(args[1])
	if !ok {
		return nil, fmt.Errorf("repeat: want an integer count, got %s", typeName(args[1]))
	}
	if n < 0 {
		return nil, fmt.Errorf("repeat: negative count %d", n)
	}
	if len(s) > 0 && n > maxGrowth/len(s) {
		return nil, fmt.Errorf("repeat: %d copies of %d bytes would exceed the limit of 1 MiB", n, len(s))
	}
	return strings.Repeat(s, n), nil
}

func replaceFunc(args ...any) (any, error) {
	var ss [3]string
	for i := range ss {
		s, err := stringArg("replace", args[i])
		if err != nil {
			return nil, err
		}
		ss[i] = s
	}
	s, old, repl := ss[0], ss[1], ss[2]
	n := -1
	if len(args) == 4 {
		var ok bool
		if n, ok = intValue(args[3]); !ok {
			return nil, fmt.Errorf("replace: want an integer count, got %s", typeName(args[3]))
		}
	}
	if growth := len(repl) - len(old); growth > 0 {
		// As strings.Replace, an empty old matches at the start and after
		// every rune.
		count := utf8.RuneCountInString(s) + 1
		if old != "" {
			count = strings.Count(s, old)
		}
		if n >= 0 && n < count {
			count = n
		}
		// len(s) + count×growth > maxGrowth, without overflowing.
		if count > 0 && (len(s) > maxGrowth || count > (maxGrowth-len(s))/growth) {
			return nil, fmt.Errorf("replace: %d replacements would grow %d bytes past the limit of 1 MiB", count, len(s))
		}
	}
	return strings.Replace(s, old, repl, n), nil
}

func joinFunc(args ...any) (any, error) {
	glue := ""
	if len(args) == 2 {
		g, err := stringArg("join", args[1])
		if err != nil {
			return nil, err
		}
		glue = g
	}
	var elems []string
	switch arr := args[0].(type) {
	case []string:
		elems = arr
	case []any:
		elems = make([]string, len(arr))
		for i, e := range arr {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("join: element %d is %s, want a string", i, typeName(e))
			}
			elems[i] = s
		}
	default:
		return nil, fmt.Errorf("join: want an array of strings, got %s", typeName(args[0]))
	}
	if len(glue) > 0 && len(elems) > 1 && len(elems)-1 > maxGrowth/len(glue) {
		return nil, fmt.Errorf("join: %d separators of %d bytes would exceed the limit of 1 MiB", len(elems)-1, len(glue))
	}
	return strings.Join(elems, glue), nil
}

// jsonIndent is the indentation of toJSON, as expr's builtin.
const jsonIndent = "  "

func toJSONFunc(args ...any) (any, error) {
	b, err := json.Marshal(args[0])
	if err != nil {
		return nil, fmt.Errorf("toJSON: %w", err)
	}
	size := indentedSize(b, len(jsonIndent))
	if size-len(b) > maxGrowth {
		return nil, fmt.Errorf("toJSON: indenting %d bytes of JSON would add more than the limit of 1 MiB", len(b))
	}
	var buf bytes.Buffer
	buf.Grow(size)
	if err := json.Indent(&buf, b, "", jsonIndent); err != nil {
		return nil, fmt.Errorf("toJSON: %w", err)
	}
	return buf.String(), nil
}

// indentedSize is the length json.Indent(dst, compact, "", indent) produces
// for compact JSON as json.Marshal writes it, computed without allocating. It
// follows json.Indent: a newline and depth×indent after { [ and , (but {}
// and [] stay empty), a space after :.
func indentedSize(compact []byte, indent int) int {
	size, depth := 0, 0
	needIndent, inString, escaped := false, false, false
	for _, c := range compact {
		if inString {
			size++
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if needIndent && c != '}' && c != ']' {
			needIndent = false
			depth++
			size += 1 + depth*indent
		}
		switch c {
		case '"':
			inString = true
			size++
		case '{', '[':
			needIndent = true
			size++
		case ',':
			size += 2 + depth*indent
		case ':':
			size += 2
		case '}', ']':
			if needIndent {
				needIndent = false
			} else {
				depth--
				size += 1 + depth*indent
			}
			size++
		default:
			size++
		}
	}
	return size
}

// renameKeys implements the renameKeys function. depth bounds the names
// tree's nesting, which an expression could make arbitrarily deep.
func renameKeys(v any, names map[string]any, depth int) (any, error) {
	if depth > 64 {
		return nil, errors.New("renameKeys: names nested more than 64 levels")
	}
	if len(names) == 0 {
		return v, nil
	}
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := renameKeys(e, names, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			entry, _ := names[k].(map[string]any)
			key := k
			if to, ok := entry["to"].(string); ok && to != "" {
				key = to
			}
			if sub, ok := entry["keys"].(map[string]any); ok {
				r, err := renameKeys(e, sub, depth+1)
				if err != nil {
					return nil, err
				}
				e = r
			}
			out[key] = e
		}
		return out, nil
	}
	return v, nil
}
