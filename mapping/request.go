package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Request is the upstream request a tool call maps to. The caller adds the
// upstream's base URL, credentials and forwarded headers, and hands the
// request back to [Tool.ShapeResponse] with the answer.
type Request struct {
	Method string
	// Path is escaped and starts with "/" (or is empty); it is appended to the
	// upstream's base path.
	Path string
	// Query is the encoded query string, without "?".
	Query string
	// Header holds the headers the mapping produced (nil for none).
	Header      http.Header
	Body        []byte
	ContentType string

	// args and claims are what response expressions see; meter is the
	// call's evaluation budget, shared by request and response expressions.
	args   map[string]any
	claims map[string]any
	meter  *Meter
}

// BuildRequest validates raw arguments and maps them to the upstream request.
// Bad arguments, including failed validation rules, give an *ArgumentError
// listing every problem; an expression that fails gives an *EvalError naming
// its field.
func (t *Tool) BuildRequest(raw json.RawMessage, claims map[string]any) (*Request, error) {
	args, err := t.input.decodeArgs(raw)
	if err != nil {
		return nil, err
	}
	if claims == nil {
		claims = map[string]any{}
	}
	env := &RequestEnv{Args: args, Claims: claims, Meter: newMeter()}
	if err := t.checkRules(env); err != nil {
		return nil, err
	}
	r := &Request{Method: t.method, args: args, claims: claims, meter: env.Meter}

	path, problems := t.path.build(args)
	if len(problems) > 0 {
		return nil, &ArgumentError{Problems: problems}
	}
	r.Path = path

	var q params
	for _, p := range t.query {
		v, err := p.run(env)
		if err != nil {
			return nil, err
		}
		if err := addParam(&q, p.name, v, t.queryStyle[p.name]); err != nil {
			return nil, &EvalError{Field: p.field, Err: err}
		}
	}
	for _, p := range t.headers {
		v, err := p.run(env)
		if err != nil {
			return nil, err
		}
		vals, err := textValues(v)
		if err != nil {
			return nil, &EvalError{Field: p.field, Err: err}
		}
		if len(vals) == 0 {
			continue
		}
		s := strings.Join(vals, ", ")
		if i := strings.IndexFunc(s, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }); i >= 0 {
			return nil, &EvalError{Field: p.field, Err: fmt.Errorf("header value contains a control character at byte %d", i)}
		}
		if r.Header == nil {
			r.Header = http.Header{}
		}
		r.Header[p.name] = []string{s}
	}

	var jsonBody any
	hasJSON := false
	switch {
	case t.body != nil:
		v, err := t.body.run(env)
		if err != nil {
			return nil, err
		}
		// nil sends no body (an optional body argument left out).
		jsonBody, hasJSON = v, v != nil
	case len(t.fields) > 0:
		m := make(map[string]any, len(t.fields))
		for _, p := range t.fields {
			v, err := p.run(env)
			if err != nil {
				return nil, err
			}
			if v != nil {
				m[p.name] = v
			}
		}
		jsonBody, hasJSON = m, true
	case len(t.form) > 0:
		var f params
		for _, p := range t.form {
			v, err := p.run(env)
			if err != nil {
				return nil, err
			}
			style := t.formStyle[p.name]
			if style == "" {
				style = styleForm
			}
			if err := addParam(&f, p.name, v, style); err != nil {
				return nil, &EvalError{Field: p.field, Err: err}
			}
		}
		r.Body = []byte(f.encode())
		r.ContentType = "application/x-www-form-urlencoded"
	case len(t.multipart) > 0:
		fields := make([]namedValue, 0, len(t.multipart))
		for _, p := range t.multipart {
			v, err := p.run(env)
			if err != nil {
				return nil, err
			}
			fields = append(fields, namedValue{name: p.name, value: v})
		}
		body, ct, err := writeMultipart(fields)
		if err != nil {
			return nil, &EvalError{Field: "multipart", Err: err}
		}
		r.Body, r.ContentType = body, ct
	case t.raw != nil:
		v, err := t.raw.run(env)
		if err != nil {
			return nil, err
		}
		if v != nil {
			s, ok := v.(string)
			if !ok {
				return nil, &EvalError{Field: "raw", Err: fmt.Errorf("want a string, got %s", jsonKind(v))}
			}
			r.Body = []byte(s)
			r.ContentType = t.rawType
		}
	case t.defaultRule:
		used := t.path.params()
		rest := make(map[string]any, len(args))
		for k, v := range args {
			if !used[k] {
				rest[k] = v
			}
		}
		if t.toQuery {
			keys := make([]string, 0, len(rest))
			for k := range rest {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if err := addParam(&q, k, rest[k], t.queryStyle[k]); err != nil {
					return nil, &ArgumentError{Problems: []string{"/" + k + ": " + err.Error()}}
				}
			}
		} else {
			jsonBody, hasJSON = rest, true
		}
	}
	if hasJSON {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(jsonBody); err != nil {
			return nil, &EvalError{Field: "body", Err: fmt.Errorf("result is not representable as JSON: %w", err)}
		}
		r.Body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		r.ContentType = "application/json"
	}
	if len(q) > maxQueryParams {
		return nil, &EvalError{Field: "query", Err: fmt.Errorf("%d query parameters; at most %d are sent", len(q), maxQueryParams)}
	}
	r.Query = q.encode()
	if len(r.Query) > maxQueryBytes {
		return nil, &EvalError{Field: "query", Err: fmt.Errorf("the query string is %d bytes; at most %d are sent", len(r.Query), maxQueryBytes)}
	}
	return r, nil
}

// Query limits: servers refuse more (Go's net/http takes 10,000 parameters,
// common proxies 8 KiB to 64 KiB of request line), and an argument array
// must not turn into an unbounded URL.
const (
	maxQueryParams = 1000
	maxQueryBytes  = 32 << 10
)

// checkRules evaluates every validation rule and reports all that fail.
func (t *Tool) checkRules(env *RequestEnv) error {
	var problems []string
	for _, r := range t.rules {
		v, err := r.run(env)
		if err != nil {
			return err
		}
		if ok, _ := v.(bool); !ok {
			problems = append(problems, r.message)
		}
	}
	if len(problems) > 0 {
		return &ArgumentError{Problems: problems}
	}
	return nil
}
