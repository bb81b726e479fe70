package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// Tool is a compiled tool: immutable and safe for concurrent use.
type Tool struct {
	name        string
	title       string
	description string
	upstream    string
	method      string
	annotations Hints

	input   *inputSchema
	path    pathTemplate
	query   []namedProgram // sorted by name
	headers []namedProgram // sorted by name
	body    *program       // one expression for the whole body
	fields  []namedProgram // body fields, sorted by name
	// defaultRule: no query or body mapping was declared, so arguments not
	// used by the path go to the query (GET, HEAD, DELETE) or the JSON body.
	defaultRule bool
	toQuery     bool
}

type namedProgram struct {
	name string
	*program
}

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
	InputSchema json.RawMessage
	Hints       Hints
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

// Descriptor describes the tool as clients see it.
func (t *Tool) Descriptor() Descriptor {
	return Descriptor{
		Name:        t.name,
		Title:       t.title,
		Description: t.description,
		InputSchema: t.input.raw,
		Hints:       t.annotations,
	}
}

var (
	toolNameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
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
		for _, name := range sortedKeys(m) {
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
	hasBody := t.body != nil || len(t.fields) > 0 || spec.Body != nil
	if hasBody && (t.method == http.MethodGet || t.method == http.MethodHead) {
		fail("body", "a %s request has no body", t.method)
	}
	t.defaultRule = len(spec.Query) == 0 && spec.Body == nil
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
