package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// Tool is a compiled tool: immutable and safe for concurrent use.
type Tool struct {
	name        string
	title       string
	description string
	icons       []string
	upstream    string
	method      string
	annotations Hints

	input      *inputSchema
	output     *outputSchema // nil: no output schema
	path       pathTemplate
	query      []namedProgram // sorted by name
	queryStyle map[string]string
	headers    []namedProgram // sorted by name
	body       *program       // one expression for the whole body
	fields     []namedProgram // body fields, sorted by name
	form       []namedProgram // form fields, sorted by name
	formStyle  map[string]string
	multipart  []namedProgram // multipart fields, sorted by name
	raw        *program       // a body sent as it is
	rawType    string
	rules      []rule
	scopes     []string
	allow      *program // nil: every caller may call
	result     *program // response.result
	text       *program // response.text
	errorText  *program // response.error
	content    *program // response.content
	statuses   map[string]string
	maxResult  int
	// defaultRule: no query or body mapping was declared, so arguments not
	// used by the path go to the query (GET, HEAD, DELETE) or the JSON body.
	defaultRule bool
	toQuery     bool
	idemKey     *program // idempotency_key; nil: none
}

type namedProgram struct {
	name string
	*program
}

type rule struct {
	*program
	message string
}

// idempotencyHeader is the header set from idempotency_key.
const idempotencyHeader = "Idempotency-Key"

// DefaultMaxResultBytes caps a result when a tool sets no max_result_bytes.
const DefaultMaxResultBytes = 100 << 10

// Hints are the resolved MCP tool annotations.
type Hints struct {
	ReadOnly    bool
	Destructive bool
	Idempotent  bool
	OpenWorld   *bool
}

// Descriptor is what a client learns about a tool from tools/list.
type Descriptor struct {
	Name        string
	Title       string
	Description string
	Icons       []string
	InputSchema json.RawMessage
	// OutputSchema is nil when the tool declares none.
	OutputSchema json.RawMessage
	Hints        Hints
}

// Name returns the tool's name.
func (t *Tool) Name() string { return t.name }

// Upstream returns the name of the upstream the tool calls.
func (t *Tool) Upstream() string { return t.upstream }

// Method returns the HTTP method of the upstream request.
func (t *Tool) Method() string { return t.method }

// HeaderNames returns the canonical names of the headers the tool's mapping
// sets, so that callers can check them against headers they set themselves.
func (t *Tool) HeaderNames() []string {
	names := make([]string, len(t.headers))
	for i, h := range t.headers {
		names[i] = h.name
	}
	return names
}

// Scopes returns the scopes a caller must hold to use the tool.
func (t *Tool) Scopes() []string { return t.scopes }

// Descriptor describes the tool as clients see it.
func (t *Tool) Descriptor() Descriptor {
	d := Descriptor{
		Name:        t.name,
		Title:       t.title,
		Description: t.description,
		Icons:       t.icons,
		InputSchema: t.input.raw,
		Hints:       t.annotations,
	}
	if t.output != nil {
		d.OutputSchema = t.output.raw
	}
	return d
}

var (
	toolNameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	statusKeyRE  = regexp.MustCompile(`^(?i:[1-5][0-9][0-9]|[1-5]xx|default)$`)
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	methods      = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true}
	// reservedHeaders are set by the HTTP client or by api2mcp itself.
	reservedHeaders = map[string]bool{"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Te": true, "Upgrade": true, "Trailer": true, "Keep-Alive": true, "Proxy-Connection": true}
)

// FieldError is a problem with one field of a tool declaration.
type FieldError struct {
	Field string // e.g. "query.status"; empty for the tool as a whole
	Err   error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Compile checks a tool declaration and compiles it. The error joins one
// *FieldError per problem found; every problem is reported, not just the first.
func Compile(spec Spec) (*Tool, error) {
	var errs []error
	fail := func(field string, format string, a ...any) {
		errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf(format, a...)})
	}
	t := &Tool{
		name:        spec.Name,
		title:       spec.Title,
		description: spec.Description,
		upstream:    spec.Upstream,
		method:      strings.ToUpper(spec.Method),
	}
	for i, icon := range spec.Icons {
		if !strings.HasPrefix(icon, "https://") && !strings.HasPrefix(icon, "http://") && !strings.HasPrefix(icon, "data:image/") {
			fail(fmt.Sprintf("icons[%d]", i), "%q is not an http(s) URL or a data:image/ URI", icon)
		}
	}
	t.icons = spec.Icons
	if !toolNameRE.MatchString(spec.Name) {
		fail("name", "%q must be 1 to 64 characters from [A-Za-z0-9_.-]", spec.Name)
	}
	if spec.Upstream == "" {
		fail("upstream", "required")
	}
	if t.method == "" {
		t.method = http.MethodGet
	}
	if !methods[t.method] {
		fail("method", "%q is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", spec.Method)
	}
	t.annotations = deriveHints(t.method, spec.Annotations)

	in, err := compileInput(spec.Input)
	if err != nil {
		fail("input", "%v", err)
		in = nil
	}
	t.input = in

	pt, perrs := parsePath(spec.Path, in)
	t.path = pt
	for _, e := range perrs {
		errs = append(errs, &FieldError{Field: "path", Err: e})
	}

	compileMap := func(section string, m map[string]string, checkName func(string) error) []namedProgram {
		out := make([]namedProgram, 0, len(m))
		for _, name := range slices.Sorted(maps.Keys(m)) {
			field := section + "." + name
			if checkName != nil {
				if err := checkName(name); err != nil {
					fail(field, "%v", err)
					continue
				}
			}
			p, err := compileExpr(field, m[name], in)
			if err != nil {
				errs = append(errs, &FieldError{Err: err})
				continue
			}
			out = append(out, namedProgram{name: name, program: p})
		}
		return out
	}
	t.query = compileMap("query", spec.Query, func(name string) error {
		if name == "" {
			return errors.New("empty parameter name")
		}
		return nil
	})
	t.headers = compileMap("headers", spec.Headers, func(name string) error {
		if !headerNameRE.MatchString(name) {
			return fmt.Errorf("%q is not a valid header name", name)
		}
		if reservedHeaders[http.CanonicalHeaderKey(name)] {
			return fmt.Errorf("%s is set by the HTTP client and cannot be mapped", http.CanonicalHeaderKey(name))
		}
		return nil
	})
	seenHeaders := map[string]string{}
	for i := range t.headers {
		canon := http.CanonicalHeaderKey(t.headers[i].name)
		if prev, dup := seenHeaders[canon]; dup {
			fail("headers."+t.headers[i].name, "same header as headers.%s (header names are case-insensitive)", prev)
		}
		seenHeaders[canon] = t.headers[i].name
		t.headers[i].name = canon
	}

	if spec.IdempotencyKey != "" {
		switch {
		case t.method == http.MethodGet || t.method == http.MethodHead:
			fail("idempotency_key", "a %s request is safe already; an Idempotency-Key is for POST, PATCH and the like", t.method)
		case seenHeaders[idempotencyHeader] != "":
			fail("idempotency_key", "headers.%s already sets the Idempotency-Key header", seenHeaders[idempotencyHeader])
		default:
			p, err := compileExpr("idempotency_key", spec.IdempotencyKey, in)
			if err != nil {
				errs = append(errs, &FieldError{Err: err})
			}
			t.idemKey = p
		}
	}

	switch b := spec.Body.(type) {
	case nil:
	case string:
		p, err := compileExpr("body", b, in)
		if err != nil {
			errs = append(errs, &FieldError{Err: err})
		}
		t.body = p
	case map[string]any:
		m := make(map[string]string, len(b))
		for k, v := range b {
			s, ok := v.(string)
			if !ok {
				fail("body."+k, "want an expression string, got %s %v (quote it in YAML)", jsonKind(v), v)
				continue
			}
			m[k] = s
		}
		t.fields = compileMap("body", m, nil)
	default:
		fail("body", "want an expression string or a map of field names to expressions, got %T", spec.Body)
	}
	t.form = compileMap("form", spec.Form, func(name string) error {
		if name == "" {
			return errors.New("empty field name")
		}
		return nil
	})
	t.multipart = compileMap("multipart", spec.Multipart, func(name string) error {
		if name == "" || strings.ContainsAny(name, "\"\r\n") {
			return fmt.Errorf("%q is not a valid field name", name)
		}
		return nil
	})
	if spec.Raw != "" {
		p, err := compileExpr("raw", spec.Raw, in)
		if err != nil {
			errs = append(errs, &FieldError{Err: err})
		}
		t.raw = p
		t.rawType = spec.RawContentType
		if t.rawType == "" {
			t.rawType = "application/octet-stream"
		}
		if _, _, err := mime.ParseMediaType(t.rawType); err != nil || strings.ContainsAny(t.rawType, "\r\n") {
			fail("raw_content_type", "%q is not a media type", spec.RawContentType)
		}
	} else if spec.RawContentType != "" {
		fail("raw_content_type", "set without raw")
	}
	var bodies []string
	for _, b := range []struct {
		name string
		set  bool
	}{{"body", spec.Body != nil}, {"form", len(spec.Form) > 0}, {"multipart", len(spec.Multipart) > 0}, {"raw", spec.Raw != ""}} {
		if b.set {
			bodies = append(bodies, b.name)
		}
	}
	if len(bodies) > 1 {
		fail(bodies[1], "a tool has one body: %s and %s cannot both be set", bodies[0], bodies[1])
	}
	if len(bodies) > 0 && (t.method == http.MethodGet || t.method == http.MethodHead) {
		fail(bodies[0], "a %s request has no body", t.method)
	}
	t.defaultRule = spec.Query == nil && len(bodies) == 0

	checkStyles := func(section string, m map[string]string, mapped map[string]string, defaultNames map[string]map[string]any) map[string]string {
		out := map[string]string{}
		for _, name := range slices.Sorted(maps.Keys(m)) {
			style := m[name]
			_, inMap := mapped[name]
			_, inArgs := defaultNames[name]
			switch {
			case !styles[style]:
				fail(section+"."+name, "%q is not a style (repeat, comma, space, pipe, json, deepObject, explode)", style)
			case !inMap && !inArgs:
				fail(section+"."+name, "names no parameter of this tool")
			default:
				out[name] = style
			}
		}
		return out
	}
	var argNames map[string]map[string]any
	if t.defaultRule && in != nil {
		argNames = in.properties
	}
	t.queryStyle = checkStyles("query_style", spec.QueryStyle, spec.Query, argNames)
	t.formStyle = checkStyles("form_style", spec.FormStyle, spec.Form, nil)

	for i, sc := range spec.Scopes {
		if !validScope(sc) {
			fail(fmt.Sprintf("scopes[%d]", i), "%q is not a valid scope (printable ASCII without spaces, quotes or backslashes)", sc)
		}
	}
	t.scopes = spec.Scopes
	if spec.Allow != "" {
		p, err := compileIn("allow", spec.Allow, in, RequestEnv{}, boolResult)
		if err != nil {
			errs = append(errs, &FieldError{Err: err})
		}
		t.allow = p
	}
	for i, r := range spec.Validate {
		field := fmt.Sprintf("validate[%d]", i)
		if strings.TrimSpace(r.Message) == "" {
			fail(field+".message", "required: it is what the agent reads when the rule fails")
		}
		p, err := compileIn(field+".rule", r.Rule, in, RequestEnv{}, boolResult)
		if err != nil {
			errs = append(errs, &FieldError{Err: err})
			continue
		}
		t.rules = append(t.rules, rule{program: p, message: r.Message})
	}
	compileResponse := func(field, src string, want exprKind) *program {
		if src == "" {
			return nil
		}
		p, err := compileIn(field, src, in, ResponseEnv{}, want)
		if err != nil {
			errs = append(errs, &FieldError{Err: err})
		}
		return p
	}
	t.result = compileResponse("response.result", spec.Response.Result, anyResult)
	t.text = compileResponse("response.text", spec.Response.Text, stringResult)
	t.errorText = compileResponse("response.error", spec.Response.Error, stringResult)
	t.content = compileResponse("response.content", spec.Response.Content, anyResult)
	for _, code := range slices.Sorted(maps.Keys(spec.Response.Statuses)) {
		if !statusKeyRE.MatchString(code) {
			fail("response.statuses."+code, "want a status code (404), a range (4XX) or default")
			continue
		}
		if t.statuses == nil {
			t.statuses = map[string]string{}
		}
		t.statuses[strings.ToUpper(code)] = strings.Join(strings.Fields(spec.Response.Statuses[code]), " ")
	}
	if len(spec.OutputSchema) > 0 {
		out, err := compileOutput(spec.OutputSchema)
		if err != nil {
			fail("output_schema", "%v", err)
		}
		t.output = out
	}
	t.maxResult = spec.MaxResultBytes
	if t.maxResult == 0 {
		t.maxResult = DefaultMaxResultBytes
	}
	if t.maxResult < 0 {
		fail("max_result_bytes", "must not be negative")
	}
	t.toQuery = t.method == http.MethodGet || t.method == http.MethodHead || t.method == http.MethodDelete || t.method == http.MethodOptions

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

func deriveHints(method string, a Annotations) Hints {
	var h Hints
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		h.ReadOnly = true
		h.Idempotent = true
	case http.MethodPut, http.MethodDelete:
		h.Destructive = true
		h.Idempotent = true
	case http.MethodPatch:
		h.Destructive = true
	case http.MethodPost:
	}
	if a.ReadOnly != nil {
		h.ReadOnly = *a.ReadOnly
	}
	if a.Destructive != nil {
		h.Destructive = *a.Destructive
	}
	if a.Idempotent != nil {
		h.Idempotent = *a.Idempotent
	}
	h.OpenWorld = a.OpenWorld
	return h
}

// validScope reports whether s is an OAuth scope-token (RFC 6749 §3.3) that
// can be quoted in a header.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= 0x20 || r >= 0x7f || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}
