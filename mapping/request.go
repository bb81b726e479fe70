package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Request is the upstream request a tool call maps to. The caller adds the
// upstream's base URL, credentials and forwarded headers.
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
}

// BuildRequest validates raw arguments and maps them to the upstream request.
// Bad arguments give an *ArgumentError listing every problem; an expression
// that fails gives an *EvalError naming its field.
func (t *Tool) BuildRequest(raw json.RawMessage, claims map[string]any) (*Request, error) {
	args, err := t.input.decodeArgs(raw)
	if err != nil {
		return nil, err
	}
	if claims == nil {
		claims = map[string]any{}
	}
	env := &RequestEnv{Args: args, Claims: claims}
	r := &Request{Method: t.method}

	path, problems := t.path.build(args)
	if len(problems) > 0 {
		return nil, &ArgumentError{Problems: problems}
	}
	r.Path = path

	q := url.Values{}
	for _, p := range t.query {
		v, err := p.run(env)
		if err != nil {
			return nil, err
		}
		vals, err := textValues(v)
		if err != nil {
			return nil, &EvalError{Field: p.field, Err: err}
		}
		for _, s := range vals {
			q.Add(p.name, s)
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

	var body any
	hasBody := false
	switch {
	case t.body != nil:
		v, err := t.body.run(env)
		if err != nil {
			return nil, err
		}
		body, hasBody = v, true
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
		body, hasBody = m, true
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
				vals, err := textValues(rest[k])
				if err != nil {
					return nil, &ArgumentError{Problems: []string{"/" + k + ": " + err.Error()}}
				}
				for _, s := range vals {
					q.Add(k, s)
				}
			}
		} else {
			body, hasBody = rest, true
		}
	}
	if hasBody {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(body); err != nil {
			return nil, &EvalError{Field: "body", Err: fmt.Errorf("result is not representable as JSON: %w", err)}
		}
		r.Body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		r.ContentType = "application/json"
	}
	r.Query = q.Encode()
	return r, nil
}
