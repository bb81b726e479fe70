package openapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/api2mcp/api2mcp/mapping"
)

// Options select and adjust the operations that become tools.
type Options struct {
	// Upstream is the upstream every tool calls.
	Upstream string
	// Include keeps only the operations matching a pattern (empty keeps
	// all); Exclude drops those matching one. A pattern is "tag:NAME",
	// "METHOD /path", "/path" or an operationId; * matches any characters.
	Include []string
	Exclude []string
	// Overrides adjust operations, keyed by operationId or "METHOD /path".
	Overrides map[string]Override
	// OutputSchema declares each tool's 2xx JSON schema as its outputSchema.
	// Off by default: real APIs drift from their specs, and a result that
	// does not match its declared schema fails the call.
	OutputSchema bool
	// ReservedHeaders are headers the upstream sets itself (credentials);
	// header parameters with these names are not offered to agents.
	ReservedHeaders []string

	readFile func(string) ([]byte, error)
	baseDir  string
}

// Override adjusts one operation's tool. The same keys are read from an
// operation's x-mcp extension; mcp.yaml's overrides win over it.
type Override struct {
	// Name replaces the derived tool name.
	Name string `koanf:"name"`
	// Title and Description replace the operation's summary and description.
	Title       string `koanf:"title"`
	Description string `koanf:"description"`
	// Hidden leaves the operation out.
	Hidden bool `koanf:"hidden"`
	// Annotations override the hints derived from the method.
	Annotations mapping.Annotations `koanf:"annotations"`
	// Response shapes results (the derived error message is replaced when
	// Response.Error is set).
	Response mapping.ResponseSpec `koanf:"response"`
	// Validate adds rules checked after the input schema.
	Validate []mapping.Rule `koanf:"validate"`
	// MaxResultBytes caps a result; zero means mapping's default.
	MaxResultBytes int `koanf:"max_result_bytes"`
	// Scopes and Allow restrict who may call the operation (as on a tool).
	Scopes []string `koanf:"scopes"`
	Allow  string   `koanf:"allow"`
	// Cache, RateLimit and IdempotencyKey work as on a tool.
	Cache          *mapping.CacheSpec     `koanf:"cache"`
	RateLimit      *mapping.RateLimitSpec `koanf:"rate_limit"`
	IdempotencyKey string                 `koanf:"idempotency_key"`
}

// Tool is one imported operation.
type Tool struct {
	Spec mapping.Spec
	// Operation is "METHOD /path" as the spec writes it.
	Operation   string
	OperationID string
	// Security lists the ways the operation may authenticate, in the spec's
	// order (nil: no security declared).
	Security []Requirement
}

// Skip is an operation that did not become a tool, and why.
type Skip struct {
	Operation string
	Reason    string
}

// Result is what a spec yields.
type Result struct {
	// Title and Version come from the spec's info.
	Title, Version string
	// Servers are the URLs of the spec's servers (Swagger 2.0's host and
	// basePath after conversion).
	Servers []string
	Tools   []Tool
	Skipped []Skip
	// Warnings are problems that did not stop the import.
	Warnings []string
}

var methodOrder = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Import turns a spec into tools. Only a document that cannot be read as
// OpenAPI is an error; everything else becomes a warning or a skipped
// operation.
func Import(data []byte, opts *Options) (*Result, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	v, err := decode(data)
	if err != nil {
		return nil, err
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not an OpenAPI document: the root is not an object")
	}
	res := &Result{}
	switch {
	case root["swagger"] != nil:
		if s, _ := root["swagger"].(string); s != "2.0" {
			return nil, fmt.Errorf("swagger version %v is not supported (2.0 is)", root["swagger"])
		}
		root, err = convertSwagger2(root)
		if err != nil {
			return nil, err
		}
	case root["openapi"] != nil:
		s, _ := root["openapi"].(string)
		if !strings.HasPrefix(s, "3.") {
			return nil, fmt.Errorf("openapi version %v is not supported (3.0 and 3.1 are)", root["openapi"])
		}
	default:
		return nil, errors.New("not an OpenAPI document: no openapi or swagger field")
	}
	if len(data) <= validateMaxBytes {
		res.Warnings = append(res.Warnings, validate(root)...)
	}
	if servers, ok := root["servers"].([]any); ok {
		for _, sv := range servers {
			if m, ok := sv.(map[string]any); ok {
				if u, ok := m["url"].(string); ok {
					res.Servers = append(res.Servers, u)
				}
			}
		}
	}
	if info, ok := root["info"].(map[string]any); ok {
		res.Title, _ = info["title"].(string)
		res.Version, _ = info["version"].(string)
	}
	im := &importer{
		opts: &o,
		refs: &refs{spec: &document{root: root}, files: map[string]*document{}, readFile: o.readFile, baseDir: o.baseDir},
		res:  res,
	}
	for _, h := range o.ReservedHeaders {
		im.reserved = append(im.reserved, http.CanonicalHeaderKey(h))
	}
	im.schemes = im.readSchemes(root)
	im.rootSecurity = root["security"]
	if err := im.compileFilters(); err != nil {
		return nil, err
	}
	im.operations(root)
	return res, nil
}

type importer struct {
	opts             *Options
	refs             *refs
	res              *Result
	reserved         []string
	schemes          map[string]Scheme
	rootSecurity     any
	include, exclude []matcher
	overrideUsed     map[string]bool
}

func (im *importer) warn(format string, a ...any) {
	im.res.Warnings = append(im.res.Warnings, fmt.Sprintf(format, a...))
}

// operation is one method of one path item.
type operation struct {
	method, path string // upper-case method; path as written (template)
	key          string // "METHOD /path"
	id           string
	tags         []string
	op           map[string]any
	item         map[string]any
	override     Override
	hasOverride  bool
}

func (im *importer) operations(root map[string]any) {
	paths, _ := root["paths"].(map[string]any)
	var ops []*operation
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		_, itemV, _, err := im.refs.deref(im.refs.spec, paths[p])
		if err != nil {
			im.res.Skipped = append(im.res.Skipped, Skip{Operation: p, Reason: err.Error()})
			continue
		}
		item, ok := itemV.(map[string]any)
		if !ok {
			continue
		}
		for _, m := range methodOrder {
			opV, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			o := &operation{method: strings.ToUpper(m), path: p, op: opV, item: item}
			o.key = o.method + " " + p
			o.id, _ = opV["operationId"].(string)
			if tags, ok := opV["tags"].([]any); ok {
				for _, t := range tags {
					if s, ok := t.(string); ok {
						o.tags = append(o.tags, s)
					}
				}
			}
			ops = append(ops, o)
		}
	}
	im.overrideUsed = map[string]bool{}
	var kept []*operation
	for _, o := range ops {
		if !im.selected(o) {
			continue
		}
		if x, ok := o.op["x-mcp"].(map[string]any); ok {
			o.override = extensionOverride(x)
		}
		for _, k := range []string{o.id, o.key} {
			if ov, ok := im.opts.Overrides[k]; ok && k != "" {
				im.overrideUsed[k] = true
				o.override = mergeOverride(o.override, ov)
				o.hasOverride = true
			}
		}
		if o.override.Hidden {
			im.res.Skipped = append(im.res.Skipped, Skip{Operation: o.key, Reason: "hidden"})
			continue
		}
		if o.method == "TRACE" {
			im.res.Skipped = append(im.res.Skipped, Skip{Operation: o.key, Reason: "TRACE is not supported"})
			continue
		}
		kept = append(kept, o)
	}
	for _, k := range slices.Sorted(maps.Keys(im.opts.Overrides)) {
		if !im.overrideUsed[k] {
			im.warn("overrides.%s: names no selected operation (use an operationId or \"METHOD /path\")", k)
		}
	}
	names := im.names(kept)
	for i, o := range kept {
		spec, notes, err := im.build(o, names[i])
		if err != nil {
			im.res.Skipped = append(im.res.Skipped, Skip{Operation: o.key, Reason: err.Error()})
			continue
		}
		sec, secNotes := im.security(o)
		for _, n := range append(notes, secNotes...) {
			im.warn("%s: %s", o.key, n)
		}
		im.res.Tools = append(im.res.Tools, Tool{Spec: spec, Operation: o.key, OperationID: o.id, Security: sec})
	}
}

// names derives every tool name. A name shared by several operations gets
// each operation's hash, so the result does not depend on the order of the
// spec; names set by overrides are kept as they are.
func (im *importer) names(ops []*operation) []string {
	names := make([]string, len(ops))
	count := map[string]int{}
	for i, o := range ops {
		if o.override.Name != "" {
			names[i] = o.override.Name
			continue
		}
		names[i] = toolName(o.id, o.method, o.path)
		count[names[i]]++
	}
	for i, o := range ops {
		if o.override.Name == "" && count[names[i]] > 1 {
			names[i] = withHash(names[i], o.method, o.path)
		}
	}
	return names
}

func extensionOverride(x map[string]any) Override {
	var o Override
	o.Name, _ = x["name"].(string)
	o.Title, _ = x["title"].(string)
	o.Description, _ = x["description"].(string)
	o.Hidden, _ = x["hidden"].(bool)
	return o
}

// mergeOverride lays b's set fields over a.
func mergeOverride(a, b Override) Override {
	if b.Name != "" {
		a.Name = b.Name
	}
	if b.Title != "" {
		a.Title = b.Title
	}
	if b.Description != "" {
		a.Description = b.Description
	}
	a.Hidden = a.Hidden || b.Hidden
	if b.Annotations != (mapping.Annotations{}) {
		a.Annotations = b.Annotations
	}
	if b.Response.Result != "" || b.Response.Text != "" || b.Response.Error != "" || b.Response.Content != "" || len(b.Response.Statuses) > 0 {
		a.Response = b.Response
	}
	if len(b.Validate) > 0 {
		a.Validate = b.Validate
	}
	if b.MaxResultBytes != 0 {
		a.MaxResultBytes = b.MaxResultBytes
	}
	if len(b.Scopes) > 0 {
		a.Scopes = b.Scopes
	}
	if b.Allow != "" {
		a.Allow = b.Allow
	}
	if b.Cache != nil {
		a.Cache = b.Cache
	}
	if b.RateLimit != nil {
		a.RateLimit = b.RateLimit
	}
	if b.IdempotencyKey != "" {
		a.IdempotencyKey = b.IdempotencyKey
	}
	return a
}

// matcher is one include or exclude pattern.
type matcher struct {
	tag    *regexp.Regexp
	method string // "" for any
	path   *regexp.Regexp
	id     *regexp.Regexp
}

func glob(p string) *regexp.Regexp {
	parts := strings.Split(p, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

func (im *importer) compileFilters() error {
	var errs []error
	parse := func(field string, pats []string) []matcher {
		var out []matcher
		for i, p := range pats {
			p = strings.TrimSpace(p)
			switch {
			case p == "":
				errs = append(errs, fmt.Errorf("%s[%d]: empty pattern", field, i))
			case strings.HasPrefix(p, "tag:"):
				out = append(out, matcher{tag: glob(strings.TrimPrefix(p, "tag:"))})
			case strings.HasPrefix(p, "/"):
				out = append(out, matcher{path: glob(p)})
			case strings.Contains(p, " "):
				m, path, _ := strings.Cut(p, " ")
				path = strings.TrimSpace(path)
				if !strings.HasPrefix(path, "/") && path != "*" {
					errs = append(errs, fmt.Errorf("%s[%d]: %q: want \"METHOD /path\"", field, i, p))
					continue
				}
				m = strings.ToUpper(m)
				if m == "*" {
					m = ""
				}
				out = append(out, matcher{method: m, path: glob(path)})
			default:
				out = append(out, matcher{id: glob(p)})
			}
		}
		return out
	}
	im.include = parse("include", im.opts.Include)
	im.exclude = parse("exclude", im.opts.Exclude)
	return errors.Join(errs...)
}

func (m matcher) match(o *operation) bool {
	switch {
	case m.tag != nil:
		for _, t := range o.tags {
			if m.tag.MatchString(t) {
				return true
			}
		}
		return false
	case m.id != nil:
		return o.id != "" && m.id.MatchString(o.id)
	}
	return (m.method == "" || m.method == o.method) && m.path.MatchString(o.path)
}

func (im *importer) selected(o *operation) bool {
	in := len(im.include) == 0
	for _, m := range im.include {
		if m.match(o) {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for _, m := range im.exclude {
		if m.match(o) {
			return false
		}
	}
	return true
}

// quote writes s as an expr string literal.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// argRef is the expr expression reading argument key.
func argRef(key string) string { return "args[" + quote(key) + "]" }

// cleanPath cuts a #fragment or ?query from a path key (real specs have
// both) and returns the query's fixed parameters.
func cleanPath(p string) (string, url.Values, []string) {
	var notes []string
	if i := strings.IndexByte(p, '#'); i >= 0 {
		notes = append(notes, fmt.Sprintf("path %q: the #fragment is ignored", p))
		p = p[:i]
	}
	var fixed url.Values
	if i := strings.IndexByte(p, '?'); i >= 0 {
		q, err := url.ParseQuery(p[i+1:])
		if err != nil {
			notes = append(notes, fmt.Sprintf("path %q: the ?query does not parse and is ignored", p))
		} else {
			fixed = q
		}
		p = p[:i]
	}
	if p == "" {
		p = "/"
	}
	return p, fixed, notes
}

func sortedValues(v url.Values) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
