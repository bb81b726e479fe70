package openapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Schema conversion limits: recursion is cut at maxSchemaDepth nested
// schemas (and at once on a cycle of refs) with a permissive stub, and one
// converted schema holds at most maxSchemaNodes schemas.
const (
	maxSchemaDepth = 12
	maxSchemaNodes = 3000
)

type direction int

const (
	input  direction = iota // arguments: readOnly properties dropped
	output                  // results: writeOnly properties dropped
)

// converter turns OpenAPI schemas into the portable profile: refs inlined,
// no $ref/$defs, allOf merged, oneOf as anyOf, nullable as a type array,
// arrays always with items, patterns Go can compile.
type converter struct {
	refs  *refs
	dir   direction
	nodes int
	notes map[string]bool // problems met, reported once per tool
}

func (c *converter) note(format string, a ...any) {
	if c.notes == nil {
		c.notes = map[string]bool{}
	}
	c.notes[fmt.Sprintf(format, a...)] = true
}

// schema converts n (found in document d). stack holds the refs being
// expanded, for cycle detection.
func (c *converter) schema(d *document, n any, depth int, stack []string) map[string]any {
	c.nodes++
	if c.nodes > maxSchemaNodes {
		c.note("schema larger than %d nodes; deeper parts accept any value", maxSchemaNodes)
		return map[string]any{}
	}
	if b, ok := n.(bool); ok {
		if !b {
			return map[string]any{"not": map[string]any{}}
		}
		return map[string]any{}
	}
	m, ok := n.(map[string]any)
	if !ok {
		return map[string]any{}
	}
	var siblingDesc any
	if ref, ok := m["$ref"].(string); ok {
		siblingDesc = m["description"]
		td, target, key, err := c.refs.deref(d, m)
		if err != nil {
			c.note("%v; it accepts any value", err)
			return map[string]any{}
		}
		for _, s := range stack {
			if s == key {
				return stub(fmt.Sprintf("recursive reference to %s", refName(ref)))
			}
		}
		if depth >= maxSchemaDepth {
			return stub(fmt.Sprintf("nested deeper than %d levels", maxSchemaDepth))
		}
		d, m = td, target.(map[string]any)
		stack = append(stack[:len(stack):len(stack)], key)
	}
	if depth >= maxSchemaDepth {
		return stub(fmt.Sprintf("nested deeper than %d levels", maxSchemaDepth))
	}
	out := map[string]any{}
	if all, ok := m["allOf"].([]any); ok {
		for _, part := range all {
			merge(out, c.schema(d, part, depth+1, stack))
		}
	}
	own := c.own(d, m, depth, stack)
	merge(out, own)
	// Keywords of the schema itself win over those merged from allOf.
	for k, v := range own {
		if k != "properties" && k != "required" {
			out[k] = v
		}
	}
	if s, ok := siblingDesc.(string); ok && s != "" {
		out["description"] = s
	}
	if hasType(out, "array") {
		if _, ok := out["items"]; !ok {
			out["items"] = map[string]any{}
		}
	}
	return out
}

// own converts m's keywords other than allOf.
func (c *converter) own(d *document, m map[string]any, depth int, stack []string) map[string]any {
	out := map[string]any{}
	var types []string
	switch t := m["type"].(type) {
	case string:
		if jsonTypes[t] {
			types = []string{t}
		}
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && jsonTypes[s] && !contains(types, s) {
				types = append(types, s)
			}
		}
	}
	if m["nullable"] == true && len(types) > 0 && !contains(types, "null") {
		types = append(types, "null")
	}
	switch len(types) {
	case 0:
	case 1:
		out["type"] = types[0]
	default:
		l := make([]any, len(types))
		for i, t := range types {
			l[i] = t
		}
		out["type"] = l
	}
	// Keywords are copied only with values JSON Schema allows, so that a
	// sloppy spec cannot make a tool's schema invalid.
	for _, k := range []string{"title", "description", "format"} {
		if v, ok := m[k].(string); ok {
			out[k] = v
		}
	}
	for _, k := range []string{"default", "const"} {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	for _, k := range []string{"maximum", "minimum"} {
		if v, ok := m[k].(json.Number); ok {
			out[k] = v
		}
	}
	if v, ok := m["multipleOf"].(json.Number); ok {
		if f, err := v.Float64(); err == nil && f > 0 {
			out["multipleOf"] = v
		}
	}
	for _, k := range []string{"maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties"} {
		if v, ok := m[k].(json.Number); ok {
			if n, err := v.Int64(); err == nil && n >= 0 {
				out[k] = v
			}
		}
	}
	if v, ok := m["uniqueItems"].(bool); ok {
		out["uniqueItems"] = v
	}
	if e, ok := m["enum"].([]any); ok && len(e) > 0 {
		if contains(types, "null") && !containsNil(e) {
			e = append(e[:len(e):len(e)], nil)
		}
		out["enum"] = e
	}
	// OpenAPI 3.0 writes exclusive bounds as booleans beside minimum and
	// maximum; JSON Schema 2020-12 as numbers.
	for _, b := range [][2]string{{"exclusiveMinimum", "minimum"}, {"exclusiveMaximum", "maximum"}} {
		switch v := m[b[0]].(type) {
		case bool:
			if v {
				if bound, ok := m[b[1]].(json.Number); ok {
					out[b[0]] = bound
					delete(out, b[1])
				}
			}
		case json.Number:
			out[b[0]] = v
		}
	}
	if p, ok := m["pattern"].(string); ok {
		if _, err := regexp.Compile(p); err == nil {
			out["pattern"] = p
		} else {
			c.note("pattern %q is not a Go regular expression; it is not checked", p)
		}
	}
	if props, ok := m["properties"].(map[string]any); ok {
		outProps := map[string]any{}
		for _, name := range slices.Sorted(maps.Keys(props)) {
			_, raw, _, err := c.refs.deref(d, props[name])
			if err == nil {
				if rm, ok := raw.(map[string]any); ok {
					if c.dir == input && rm["readOnly"] == true || c.dir == output && rm["writeOnly"] == true {
						continue
					}
				}
			}
			outProps[name] = c.schema(d, props[name], depth+1, stack)
		}
		out["properties"] = outProps
		if req, ok := m["required"].([]any); ok {
			var keep []any
			for _, r := range req {
				if s, ok := r.(string); ok {
					if _, ok := outProps[s]; ok {
						keep = append(keep, s)
					}
				}
			}
			if len(keep) > 0 {
				out["required"] = keep
			}
		}
	}
	switch ap := m["additionalProperties"].(type) {
	case bool:
		out["additionalProperties"] = ap
	case map[string]any:
		out["additionalProperties"] = c.schema(d, ap, depth+1, stack)
	}
	if items, ok := m["items"]; ok {
		if list, ok := items.([]any); ok { // JSON Schema draft 4 tuples
			if len(list) > 0 {
				out["items"] = c.schema(d, list[0], depth+1, stack)
			}
		} else {
			out["items"] = c.schema(d, items, depth+1, stack)
		}
	} else if _, ok := m["prefixItems"]; ok {
		out["items"] = map[string]any{}
	}
	var alts []any
	for _, k := range []string{"anyOf", "oneOf"} {
		if l, ok := m[k].([]any); ok {
			for _, e := range l {
				alts = append(alts, c.schema(d, e, depth+1, stack))
			}
		}
	}
	switch len(alts) {
	case 0:
	case 1:
		merge(out, alts[0].(map[string]any))
	default:
		out["anyOf"] = alts
	}
	return out
}

var jsonTypes = map[string]bool{"array": true, "boolean": true, "integer": true, "null": true, "number": true, "object": true, "string": true}

var propertyKeyRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)

// merge adds src's keywords to dst: properties and required are unioned,
// other keywords are kept from dst when both set them.
func merge(dst, src map[string]any) {
	for k, v := range src {
		switch k {
		case "properties":
			dp, _ := dst[k].(map[string]any)
			if dp == nil {
				dp = map[string]any{}
			}
			for name, s := range v.(map[string]any) {
				if _, ok := dp[name]; !ok {
					dp[name] = s
				}
			}
			dst[k] = dp
		case "required":
			dr, _ := dst[k].([]any)
			for _, r := range v.([]any) {
				if !containsAny(dr, r) {
					dr = append(dr, r)
				}
			}
			dst[k] = dr
		default:
			if _, ok := dst[k]; !ok {
				dst[k] = v
			}
		}
	}
}

func stub(why string) map[string]any {
	return map[string]any{"description": "any value (" + why + ")"}
}

func refName(ref string) string {
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func hasType(s map[string]any, t string) bool {
	switch v := s["type"].(type) {
	case string:
		return v == t
	case []any:
		return containsAny(v, t)
	}
	return false
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func containsAny(l []any, v any) bool {
	for _, e := range l {
		if e == v {
			return true
		}
	}
	return false
}

func containsNil(l []any) bool { return containsAny(l, nil) }
