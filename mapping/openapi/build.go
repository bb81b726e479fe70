package openapi

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/api2mcp/api2mcp/mapping"
)

// maxDescription caps a tool description, in bytes: long descriptions cost
// every agent tokens on every tools/list.
const maxDescription = 1024

var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// headers OpenAPI says are ignored as parameters, and headers the HTTP
// client sets.
var ignoredHeaders = map[string]bool{"Accept": true, "Content-Type": true, "Authorization": true, "Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Te": true, "Upgrade": true, "Trailer": true, "Keep-Alive": true, "Proxy-Connection": true}

// toolBuilder collects one operation's arguments and mappings.
type toolBuilder struct {
	im       *importer
	conv     *converter
	props    map[string]any
	required []any
	used     map[string]bool
	spec     mapping.Spec
	cookies  []string // expressions, one per cookie
	notes    []string
}

// claim reserves an argument name for a parameter or body field: its
// sanitised name, or on a collision the name with its location appended.
func (b *toolBuilder) claim(name, in string) string {
	key := argName(name)
	if !b.used[key] {
		b.used[key] = true
		return key
	}
	base := key + "_" + in
	key = base
	for i := 2; b.used[key]; i++ {
		key = fmt.Sprintf("%s%d", base, i)
	}
	b.used[key] = true
	return key
}

func (b *toolBuilder) addArg(key string, schema map[string]any, required bool, desc string) {
	if desc != "" {
		if _, ok := schema["description"]; !ok {
			schema["description"] = desc
		}
	}
	b.props[key] = schema
	if required {
		b.required = append(b.required, key)
	}
}

func (im *importer) build(o *operation, name string) (mapping.Spec, []string, error) {
	b := &toolBuilder{
		im:    im,
		conv:  &converter{refs: im.refs, dir: input},
		props: map[string]any{},
		used:  map[string]bool{},
	}
	path, fixed, notes := cleanPath(o.path)
	b.notes = append(b.notes, notes...)
	b.spec = mapping.Spec{
		Name:     name,
		Upstream: im.opts.Upstream,
		Method:   o.method,
		Query:    map[string]string{},
	}
	for _, k := range sortedValues(fixed) {
		vals := make([]string, len(fixed[k]))
		for i, v := range fixed[k] {
			vals[i] = quote(v)
		}
		if len(vals) == 1 {
			b.spec.Query[k] = vals[0]
		} else {
			b.spec.Query[k] = "[" + strings.Join(vals, ", ") + "]"
		}
	}

	params, err := b.parameters(o)
	if err != nil {
		return mapping.Spec{}, nil, err
	}
	path, err = b.pathParams(path, params)
	if err != nil {
		return mapping.Spec{}, nil, err
	}
	b.spec.Path = path
	for _, p := range params {
		switch p.in {
		case "query":
			b.queryParam(p)
		case "header":
			b.headerParam(p)
		case "cookie":
			b.cookieParam(p)
		}
	}
	if len(b.cookies) > 0 {
		if b.spec.Headers == nil {
			b.spec.Headers = map[string]string{}
		}
		b.spec.Headers["Cookie"] = "let c = join(filter([" + strings.Join(b.cookies, ", ") + `], # != nil), "; "); c == "" ? nil : c`
	}
	if err := b.requestBody(o); err != nil {
		return mapping.Spec{}, nil, err
	}
	b.responses(o)

	input := map[string]any{"type": "object", "properties": b.props}
	if len(b.required) > 0 {
		input["required"] = b.required
	}
	b.spec.Input = input
	b.describe(o)
	ov := o.override
	b.spec.Annotations = ov.Annotations
	if ov.Response.Result != "" {
		b.spec.Response.Result = ov.Response.Result
	}
	if ov.Response.Text != "" {
		b.spec.Response.Text = ov.Response.Text
	}
	if ov.Response.Error != "" {
		b.spec.Response.Error = ov.Response.Error
	}
	if len(ov.Response.Statuses) > 0 {
		b.spec.Response.Statuses = ov.Response.Statuses
	}
	if ov.Response.Content != "" {
		b.spec.Response.Content = ov.Response.Content
	}
	b.spec.Validate = ov.Validate
	b.spec.MaxResultBytes = ov.MaxResultBytes
	b.spec.Scopes = ov.Scopes
	b.spec.Allow = ov.Allow
	b.spec.Cache = ov.Cache
	b.spec.RateLimit = ov.RateLimit
	b.spec.IdempotencyKey = ov.IdempotencyKey
	for n := range b.conv.notes {
		b.notes = append(b.notes, n)
	}
	sort.Strings(b.notes[len(notes):])
	return b.spec, b.notes, nil
}

func (b *toolBuilder) describe(o *operation) {
	summary, _ := o.op["summary"].(string)
	desc, _ := o.op["description"].(string)
	summary, desc = strings.TrimSpace(summary), strings.TrimSpace(desc)
	if o.override.Title != "" {
		summary = o.override.Title
	}
	b.spec.Title = summary
	switch {
	case o.override.Description != "":
		desc = o.override.Description
	case desc == "":
		desc = summary
	case summary != "" && !strings.HasPrefix(desc, summary):
		desc = summary + ". " + desc
	}
	if o.op["deprecated"] == true {
		desc = "Deprecated. " + desc
	}
	if desc == "" {
		desc = o.key
	}
	b.spec.Description = truncate(desc, maxDescription)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// param is a resolved parameter.
type param struct {
	name, in string
	key      string // argument name
	style    string
	explode  bool
	required bool
	json     bool // content: application/json — the value is sent as JSON
	schema   map[string]any
}

// parameters merges path-level and operation-level parameters (the
// operation's win for the same name and location) and claims their argument
// names: path first, then query, header, cookie, so that renames are stable.
func (b *toolBuilder) parameters(o *operation) ([]*param, error) {
	type id struct{ name, in string }
	byID := map[id]*param{}
	var order []id
	for _, list := range []any{o.item["parameters"], o.op["parameters"]} {
		l, _ := list.([]any)
		for _, pv := range l {
			d, raw, _, err := b.im.refs.deref(b.im.refs.spec, pv)
			if err != nil {
				b.notes = append(b.notes, fmt.Sprintf("parameter skipped: %v", err))
				continue
			}
			m, ok := raw.(map[string]any)
			if !ok {
				continue
			}
			name, _ := m["name"].(string)
			in, _ := m["in"].(string)
			if name == "" || in != "path" && in != "query" && in != "header" && in != "cookie" {
				b.notes = append(b.notes, fmt.Sprintf("parameter %q in %q skipped: not a path, query, header or cookie parameter", name, in))
				continue
			}
			p := &param{name: name, in: in}
			p.required, _ = m["required"].(bool)
			if in == "path" {
				p.required = true
			}
			p.style, _ = m["style"].(string)
			if p.style == "" {
				p.style = map[string]string{"path": "simple", "query": "form", "header": "simple", "cookie": "form"}[in]
			}
			if e, ok := m["explode"].(bool); ok {
				p.explode = e
			} else {
				p.explode = p.style == "form"
			}
			var schemaV any = m["schema"]
			if content, ok := m["content"].(map[string]any); ok && schemaV == nil {
				for _, mt := range slices.Sorted(maps.Keys(content)) {
					if mo, ok := content[mt].(map[string]any); ok {
						schemaV = mo["schema"]
						p.json = strings.Contains(mt, "json")
						break
					}
				}
			}
			p.schema = b.conv.schema(d, schemaV, 0, nil)
			if desc, ok := m["description"].(string); ok && strings.TrimSpace(desc) != "" {
				if _, has := p.schema["description"]; !has {
					p.schema["description"] = truncate(strings.TrimSpace(desc), maxDescription)
				}
			}
			if m["deprecated"] == true {
				p.schema["deprecated"] = true
			}
			k := id{name, in}
			if _, seen := byID[k]; !seen {
				order = append(order, k)
			}
			byID[k] = p
		}
	}
	var out []*param
	for _, in := range []string{"path", "query", "header", "cookie"} {
		for _, k := range order {
			if k.in != in {
				continue
			}
			p := byID[k]
			if in == "header" {
				canon := http.CanonicalHeaderKey(p.name)
				switch {
				case !headerNameRE.MatchString(p.name):
					b.notes = append(b.notes, fmt.Sprintf("header parameter %q skipped: not a valid header name", p.name))
					continue
				case ignoredHeaders[canon]:
					b.notes = append(b.notes, fmt.Sprintf("header parameter %q skipped: set by api2mcp or the HTTP client", p.name))
					continue
				case contains(b.im.reserved, canon):
					// Set by the upstream's configuration.
					continue
				}
			}
			if b.im.isCredentialParam(p.name, in) {
				// A credential: it comes from the upstream's configuration,
				// never from the agent.
				continue
			}
			p.key = b.claim(p.name, in)
			out = append(out, p)
		}
	}
	return out, nil
}

// pathParams rewrites the path's placeholders to argument names with the
// parameter's style, and adds their arguments. A placeholder without a
// declared parameter becomes a required string argument.
func (b *toolBuilder) pathParams(path string, params []*param) (string, error) {
	byName := map[string]*param{}
	for _, p := range params {
		if p.in == "path" {
			byName[p.name] = p
		}
	}
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("path %q does not start with /", path)
	}
	var out strings.Builder
	rest := path
	seen := map[string]bool{}
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			if strings.IndexByte(rest, '}') >= 0 {
				return "", fmt.Errorf("path %q: unopened }", path)
			}
			out.WriteString(escapeLiteral(rest))
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return "", fmt.Errorf("path %q: unclosed {", path)
		}
		if strings.IndexByte(rest[:open], '}') >= 0 {
			return "", fmt.Errorf("path %q: unopened }", path)
		}
		out.WriteString(escapeLiteral(rest[:open]))
		name := rest[open+1 : open+end]
		rest = rest[open+end+1:]
		if name == "" || strings.ContainsAny(name, "{/") {
			return "", fmt.Errorf("path %q: bad placeholder {%s}", path, name)
		}
		p := byName[name]
		if p == nil {
			p = &param{name: name, in: "path", style: "simple", required: true, schema: map[string]any{"type": "string"}}
			p.key = b.claim(name, "path")
			byName[name] = p
			params = append(params, p)
			b.notes = append(b.notes, fmt.Sprintf("path parameter %q is not declared; it is a required string", name))
		}
		op := ""
		switch p.style {
		case "label":
			op = "."
		case "matrix":
			op = ";"
		case "simple":
		default:
			b.notes = append(b.notes, fmt.Sprintf("path parameter %q: style %q is not a path style; simple is used", name, p.style))
		}
		star := ""
		if p.explode {
			star = "*"
		}
		out.WriteString("{" + op + p.key + star + "}")
		if !seen[name] {
			seen[name] = true
			// A path value is never empty: a missing minLength would let
			// an empty string through to the request builder.
			b.addArg(p.key, p.schema, true, "")
		}
	}
	for _, p := range params {
		if p.in == "path" && !seen[p.name] {
			b.notes = append(b.notes, fmt.Sprintf("path parameter %q is not in the path; it is ignored", p.name))
		}
	}
	return out.String(), nil
}

// escapeLiteral percent-encodes what may not appear in a URL path as it is
// (spaces, non-ASCII, a % that starts no escape), keeping valid escapes.
func escapeLiteral(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(c)
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (b *toolBuilder) queryParam(p *param) {
	b.spec.Query[p.name] = valueRef(p.key, p.schema)
	b.addArg(p.key, p.schema, p.required, "")
	style := ""
	switch {
	case p.json:
		style = "json"
	case p.style == "deepObject":
		style = "deepObject"
	case p.explode:
		// form, spaceDelimited and pipeDelimited all repeat arrays when
		// exploded; an exploded object's keys become parameters.
		if hasType(p.schema, "object") || p.schema["properties"] != nil {
			style = "explode"
		}
	case p.style == "spaceDelimited":
		style = "space"
	case p.style == "pipeDelimited":
		style = "pipe"
	default: // form, not exploded: a=1,2 and o=k,v,k,v
		style = "comma"
	}
	if style != "" {
		if b.spec.QueryStyle == nil {
			b.spec.QueryStyle = map[string]string{}
		}
		b.spec.QueryStyle[p.name] = style
	}
}

// simpleExpr renders an argument in the simple style (headers): arrays
// a,b; objects k,v,k,v or, exploded, k=v,k=v; JSON content as JSON.
func simpleExpr(p *param) string {
	ref := argRef(p.key)
	switch {
	case p.json:
		return ref + " == nil ? nil : toJSON(" + ref + ")"
	case hasType(p.schema, "array"):
		return ref + ` == nil ? nil : join(map(` + ref + `, string(#)), ",")`
	case hasType(p.schema, "object"):
		pair := `# + "," + string(` + ref + `[#])`
		if p.explode {
			pair = `# + "=" + string(` + ref + `[#])`
		}
		return ref + ` == nil ? nil : join(map(sort(keys(` + ref + `)), ` + pair + `), ",")`
	}
	return ref
}

func (b *toolBuilder) headerParam(p *param) {
	b.addArg(p.key, p.schema, p.required, "")
	if b.spec.Headers == nil {
		b.spec.Headers = map[string]string{}
	}
	b.spec.Headers[p.name] = simpleExpr(p)
}

func (b *toolBuilder) cookieParam(p *param) {
	b.addArg(p.key, p.schema, p.required, "")
	ref := argRef(p.key)
	val := "string(" + ref + ")"
	switch {
	case p.json:
		val = "toJSON(" + ref + ")"
	case hasType(p.schema, "array"):
		val = `join(map(` + ref + `, string(#)), ",")`
	}
	b.cookies = append(b.cookies, ref+" == nil ? nil : "+quote(p.name+"=")+" + urlEncode("+val+")")
}
