package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// inputSchema is a tool's compiled argument schema.
type inputSchema struct {
	raw        json.RawMessage // canonical JSON, as tools/list shows it
	schema     *jsonschema.Schema
	properties map[string]map[string]any // top-level property schemas
	required   map[string]bool
	closed     bool // no arguments beyond properties
	// valid remembers raw arguments the schema accepted: validation is a
	// function of the bytes alone, and agents repeat the same calls.
	valid validMemo
}

// validMemo is a bounded set of raw arguments that passed validation, safe
// for concurrent use. Refused arguments are never in it, so their errors
// are always those of the validator.
type validMemo struct {
	mu sync.RWMutex
	m  map[string]struct{}
}

// Bounds of a validMemo: arguments longer than maxMemoArgs bytes are
// validated every time; when maxMemoEntries are held, the set starts over.
const (
	maxMemoArgs    = 512
	maxMemoEntries = 1024
)

func (v *validMemo) has(raw []byte) bool {
	if len(raw) > maxMemoArgs {
		return false
	}
	v.mu.RLock()
	_, ok := v.m[string(raw)]
	v.mu.RUnlock()
	return ok
}

func (v *validMemo) add(raw []byte) {
	if len(raw) > maxMemoArgs {
		return
	}
	v.mu.Lock()
	if v.m == nil || len(v.m) >= maxMemoEntries {
		v.m = make(map[string]struct{}, 64)
	}
	v.m[string(raw)] = struct{}{}
	v.mu.Unlock()
}

const schemaURL = "api2mcp:input.json"

// compileInput checks that input is an object schema, closes it unless it
// says otherwise, and compiles it.
func compileInput(input map[string]any) (*inputSchema, error) {
	doc, raw, sch, err := compileObjectSchema(input, true)
	if err != nil {
		return nil, err
	}
	in := &inputSchema{raw: raw, schema: sch, properties: map[string]map[string]any{}, required: map[string]bool{}}
	props, ok := doc["properties"].(map[string]any)
	if !ok {
		return nil, errors.New("properties must be an object")
	}
	for name, p := range props {
		pm, _ := p.(map[string]any)
		in.properties[name] = pm
	}
	if req, ok := doc["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok {
				in.required[s] = true
			}
		}
	}
	in.closed = doc["additionalProperties"] == false
	return in, nil
}

// outputSchema is a tool's compiled result schema.
type outputSchema struct {
	raw    json.RawMessage
	schema *jsonschema.Schema
}

func compileOutput(output map[string]any) (*outputSchema, error) {
	_, raw, sch, err := compileObjectSchema(output, false)
	if err != nil {
		return nil, err
	}
	return &outputSchema{raw: raw, schema: sch}, nil
}

// compileObjectSchema checks that m is an object schema (type defaults to
// object), optionally closes it (additionalProperties: false unless set),
// and compiles it. The schema is round-tripped through JSON so that
// YAML-typed values (ints, nested maps) become plain JSON values.
func compileObjectSchema(m map[string]any, closeIt bool) (map[string]any, json.RawMessage, *jsonschema.Schema, error) {
	doc := map[string]any{}
	if len(m) > 0 {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("not representable as JSON: %w", err)
		}
		// UseNumber keeps integers above 2^53 (in a default, enum or const)
		// exact, in the schema clients see and in the defaults applied.
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			return nil, nil, nil, err
		}
	}
	if t, ok := doc["type"]; !ok {
		doc["type"] = "object"
	} else if t != "object" {
		return nil, nil, nil, fmt.Errorf(`root type must be "object", not %v`, t)
	}
	if closeIt {
		if _, ok := doc["additionalProperties"]; !ok {
			doc["additionalProperties"] = false
		}
		if _, ok := doc["properties"]; !ok {
			doc["properties"] = map[string]any{}
		}
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, nil, err
	}
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, parsed); err != nil {
		return nil, nil, nil, err
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("invalid JSON Schema: %s", strings.ReplaceAll(err.Error(), schemaURL, ""))
	}
	return doc, raw, sch, nil
}

// noLoader refuses every external $ref: a tool schema is self-contained.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external $ref %q is not allowed", url)
}

// ArgumentError reports arguments that do not match the tool's input schema.
// Each problem starts with the JSON pointer of the offending value.
type ArgumentError struct {
	Problems []string
}

func (e *ArgumentError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid arguments: " + e.Problems[0]
	}
	return "invalid arguments:\n- " + strings.Join(e.Problems, "\n- ")
}

// decodeArgs parses raw arguments, applies defaults, validates them and
// converts numbers for expressions. Integers keep every digit: those that fit
// in 64 bits become int, larger ones stay json.Number.
func (in *inputSchema) decodeArgs(raw json.RawMessage) (map[string]any, error) {
	var v any
	if trimmed := bytes.Trim(raw, jsonSpace); len(trimmed) == 0 || string(trimmed) == "null" {
		v = map[string]any{}
	} else {
		var ok bool
		if v, ok = decodeFast(raw); !ok {
			var err error
			if v, err = decodeExact(raw); err != nil {
				return nil, &ArgumentError{Problems: []string{"arguments are not valid JSON: " + err.Error()}}
			}
		}
		if err := checkNumbers(v); err != nil {
			return nil, &ArgumentError{Problems: []string{err.Error()}}
		}
	}
	args, ok := v.(map[string]any)
	if !ok {
		return nil, &ArgumentError{Problems: []string{fmt.Sprintf("arguments must be a JSON object, not %s", jsonKind(v))}}
	}
	applyDefaults(in.properties, args)
	if !in.valid.has(raw) {
		if err := in.schema.Validate(v); err != nil {
			var ve *jsonschema.ValidationError
			if !errors.As(err, &ve) {
				return nil, &ArgumentError{Problems: []string{err.Error()}}
			}
			return nil, &ArgumentError{Problems: validationProblems(ve)}
		}
		in.valid.add(raw)
	}
	normalizeNumbers(args)
	return args, nil
}

// decodeExact decodes one JSON value keeping numbers as json.Number, and
// refuses anything after it.
func decodeExact(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if rest := bytes.Trim(b[d.InputOffset():], jsonSpace); len(rest) > 0 {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// jsonSpace is the white space JSON allows between values (RFC 8259);
// bytes.TrimSpace would also accept \f, \v and Unicode spaces.
const jsonSpace = " \t\r\n"

// maxNumberLen bounds the length of a number literal: the validator works on
// exact rationals, and 1e999999 or a million digits would cost seconds.
const maxNumberLen = 100

// checkNumbers refuses number literals longer than maxNumberLen or with an
// exponent beyond what any JSON consumer represents. The error starts with
// the JSON pointer of the number.
func checkNumbers(v any) error {
	if ptr, msg := badNumber(v); msg != "" {
		if ptr == "" {
			ptr = "/"
		}
		return fmt.Errorf("%s: %s", ptr, msg)
	}
	return nil
}

// badNumber finds a number checkNumbers refuses; the pointer is built only
// on the way back from one, so that the common case does not allocate.
func badNumber(v any) (ptr, msg string) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if p, m := badNumber(e); m != "" {
				return "/" + k + p, m
			}
		}
	case []any:
		for i, e := range v {
			if p, m := badNumber(e); m != "" {
				return "/" + strconv.Itoa(i) + p, m
			}
		}
	case json.Number:
		if len(v) > maxNumberLen {
			return "", fmt.Sprintf("a number of %d characters is too long (at most %d)", len(v), maxNumberLen)
		}
		if i := strings.IndexAny(string(v), "eE"); i >= 0 {
			if exp, err := strconv.Atoi(strings.TrimPrefix(string(v[i+1:]), "+")); err != nil || exp > 400 || exp < -400 {
				return "", fmt.Sprintf("the exponent of %s is out of range", v)
			}
		}
	}
	return "", ""
}

// applyDefaults fills absent properties that declare a default, descending
// into nested objects that are present.
func applyDefaults(props map[string]map[string]any, obj map[string]any) {
	for name, p := range props {
		if p == nil {
			continue
		}
		val, present := obj[name]
		if !present {
			if d, ok := p["default"]; ok {
				obj[name] = deepCopy(d)
			}
			continue
		}
		sub, ok := val.(map[string]any)
		nested, ok2 := p["properties"].(map[string]any)
		if ok && ok2 {
			m := make(map[string]map[string]any, len(nested))
			for k, v := range nested {
				m[k], _ = v.(map[string]any)
			}
			applyDefaults(m, sub)
		}
	}
}

// deepCopy copies a default so that calls never share mutable values. Numbers
// in compiled schemas are float64 from encoding/json; they are turned into
// json.Number so that the validator and the number normaliser see what a
// client would have sent.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = deepCopy(e)
		}
		return s
	case float64:
		return json.Number(strconv.FormatFloat(v, 'g', -1, 64))
	default:
		return v
	}
}

func validationProblems(ve *jsonschema.ValidationError) []string {
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := "/" + strings.Join(e.InstanceLocation, "/")
			// Name missing and unexpected properties by their own pointer:
			// "/id: required" tells a model more than "/: missing property".
			switch k := e.ErrorKind.(type) {
			case *kind.Required:
				for _, m := range k.Missing {
					out = append(out, jsonPointer(e.InstanceLocation, m)+": required")
				}
				return
			case *kind.AdditionalProperties:
				for _, m := range k.Properties {
					out = append(out, jsonPointer(e.InstanceLocation, m)+": not allowed (no such argument)")
				}
				return
			}
			unit := e.BasicOutput()
			text := ""
			if unit.Error != nil {
				text = unit.Error.String()
			}
			out = append(out, loc+": "+text)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Strings(out)
	return out
}

// jsonPointer returns the RFC 6901 pointer of property name under loc.
func jsonPointer(loc []string, name string) string {
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	var b strings.Builder
	for _, l := range loc {
		b.WriteString("/" + esc.Replace(l))
	}
	b.WriteString("/" + esc.Replace(name))
	return b.String()
}

// normalizeNumbers turns json.Number values into int (when integral and in
// range) or float64, in place, so expressions compare and compute with them.
func normalizeNumbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = normalizeNumbers(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = normalizeNumbers(e)
		}
		return v
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return int(i)
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return v // out of float range: keep the digits
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int(f)
		}
		if f == math.Trunc(f) {
			return v // a large integer written with an exponent: keep it exact
		}
		return f
	default:
		return v
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64, int:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}
