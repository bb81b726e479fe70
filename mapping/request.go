package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"strconv"
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

// ErrDenied is returned by [Tool.BuildRequest] when the tool's allow rule
// does not allow the call. It says nothing more on purpose.
var ErrDenied = errors.New("access denied")

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
	if t.allow != nil {
		// Fail closed: an allow rule that cannot be evaluated denies.
		if v, err := t.allow.run(env); err != nil || v != true {
			return nil, ErrDenied
		}
	}
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
	if t.idemKey != nil {
		v, err := t.idemKey.run(env)
		if err != nil {
			return nil, err
		}
		vals, err := textValues(v)
		if err != nil {
			return nil, &EvalError{Field: t.idemKey.field, Err: err}
		}
		switch {
		case len(vals) > 1:
			return nil, &EvalError{Field: t.idemKey.field, Err: fmt.Errorf("want one value, got %d", len(vals))}
		case len(vals) == 1 && (vals[0] == "" || len(vals[0]) > maxIdempotencyKey):
			return nil, &EvalError{Field: t.idemKey.field, Err: fmt.Errorf("the key must be 1 to %d characters, got %d", maxIdempotencyKey, len(vals[0]))}
		case len(vals) == 1 && strings.ContainsFunc(vals[0], func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return nil, &EvalError{Field: t.idemKey.field, Err: errors.New("the key contains a control character")}
		case len(vals) == 1:
			if r.Header == nil {
				r.Header = http.Header{}
			}
			r.Header[idempotencyHeader] = vals
		}
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

// maxIdempotencyKey bounds an Idempotency-Key value (the IETF draft's
// servers commonly accept up to 255 characters).
const maxIdempotencyKey = 255

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

// CanonicalArgs returns the validated arguments (defaults applied) as
// canonical JSON: object keys sorted, numbers written in one form whatever
// the caller sent (1, 1.0 and 1e0 are the same), no insignificant space. Two
// calls with the same canonical arguments build the same request.
func (r *Request) CanonicalArgs() ([]byte, error) {
	return appendCanonical(make([]byte, 0, 64), r.args)
}

// appendCanonical appends json.Marshal(canonicalValue(v)) to b, without
// making the canonical copy of v first: the same bytes (canonical_test.go
// checks it), from objects with sorted keys, arrays, plain strings and
// numbers; anything else is encoded by encoding/json.
func appendCanonical(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys) // as json.Marshal sorts map keys
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendCanonical(b, v[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendCanonical(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case string:
		return AppendJSONString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case nil:
		return append(b, "null"...), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	}
	enc, err := json.Marshal(canonicalValue(v))
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

func canonicalValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = canonicalValue(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = canonicalValue(e)
		}
		return out
	case float64:
		return canonicalNumber(new(big.Float).SetFloat64(v))
	case int:
		return json.Number(strconv.Itoa(v))
	case json.Number:
		f, _, err := big.ParseFloat(string(v), 10, 256, big.ToNearestEven)
		if err != nil {
			return v
		}
		return canonicalNumber(f)
	}
	return v
}

// canonicalNumber writes an integral value below 2^70 in full and anything
// else in the shortest form that reads back as the same value (1e+308, not
// 309 digits).
func canonicalNumber(f *big.Float) json.Number {
	if f.IsInt() && f.MantExp(nil) <= 70 {
		i, _ := f.Int(nil)
		return json.Number(i.String())
	}
	return json.Number(f.Text('g', -1))
}
