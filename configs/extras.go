package configs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/api2mcp/api2mcp/mapping"
)

// DefaultResourceMaxBytes caps a resource read when max_bytes is zero.
const DefaultResourceMaxBytes = 1 << 20

// Resource is a compiled resources entry.
type Resource struct {
	Spec ResourceSpec
	// Tool is the upstream GET, with one required string argument per
	// template variable.
	Tool *mapping.Tool
	// Vars are the URI template's variables, in order.
	Vars  []string
	match *regexp.Regexp // nil for a fixed URI
}

// Match reports whether uri names this resource, and the template's
// variables when it does.
func (r *Resource) Match(uri string) (map[string]string, bool) {
	if r.match == nil {
		return map[string]string{}, uri == r.Spec.URI
	}
	m := r.match.FindStringSubmatch(uri)
	if m == nil {
		return nil, false
	}
	vars := make(map[string]string, len(r.Vars))
	for i, v := range r.Vars {
		vars[v] = m[i+1]
	}
	return vars, true
}

// Prompt is a compiled prompts entry.
type Prompt struct {
	Spec     PromptSpec
	Messages []Message
}

// Message is a compiled prompt message.
type Message struct {
	Role string
	// Kind is text, resource or image.
	Kind  string
	Value *mapping.Template
}

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	templateRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)
)

// entryChecks starts the checks of entry i of a named list: it returns the
// entry's error prefix (`resources[2] "name"`), a fail function that adds
// an error under it, and checks the name (valid, not used before).
func entryChecks(section string, i int, name string, seen map[string]int, errs *[]error) (string, func(field, format string, a ...any)) {
	prefix := fmt.Sprintf("%s[%d]", section, i)
	if name != "" {
		prefix += fmt.Sprintf(" %q", name)
	}
	fail := func(field, format string, a ...any) {
		*errs = append(*errs, fmt.Errorf("%s: %s: %s", prefix, field, fmt.Sprintf(format, a...)))
	}
	if !nameRE.MatchString(name) {
		fail("name", "%q must be 1 to 64 characters from [A-Za-z0-9_.-]", name)
	} else if j, dup := seen[name]; dup {
		fail("name", "already used by %s[%d]", section, j)
	}
	seen[name] = i
	return prefix, fail
}

func compileResources(f *File, cfg *Config) []error {
	var errs []error
	seenName, seenURI := map[string]int{}, map[string]int{}
	for i, spec := range f.Resources {
		prefix, fail := entryChecks("resources", i, spec.Name, seenName, &errs)
		r := &Resource{Spec: spec}
		uri := spec.URI
		switch {
		case spec.URI != "" && spec.URITemplate != "":
			fail("uri", "set uri or uri_template, not both")
		case spec.URI == "" && spec.URITemplate == "":
			fail("uri", "required (or uri_template)")
		case spec.URI != "":
			if !strings.Contains(spec.URI, ":") || strings.ContainsAny(spec.URI, "{} \t\r\n") {
				fail("uri", "%q is not a URI", spec.URI)
			}
		default:
			uri = spec.URITemplate
			var pattern strings.Builder
			pattern.WriteString("^")
			last := 0
			for _, m := range templateRE.FindAllStringSubmatchIndex(spec.URITemplate, -1) {
				pattern.WriteString(regexp.QuoteMeta(spec.URITemplate[last:m[0]]))
				pattern.WriteString("([^/?#]+)")
				r.Vars = append(r.Vars, spec.URITemplate[m[2]:m[3]])
				last = m[1]
			}
			pattern.WriteString(regexp.QuoteMeta(spec.URITemplate[last:]) + "$")
			if len(r.Vars) == 0 || strings.ContainsAny(templateRE.ReplaceAllString(spec.URITemplate, ""), "{}") {
				fail("uri_template", "%q needs {name} variables (RFC 6570 level 1)", spec.URITemplate)
			} else {
				r.match = regexp.MustCompile(pattern.String())
			}
		}
		if j, dup := seenURI[uri]; dup && uri != "" {
			fail("uri", "already used by resources[%d]", j)
		}
		seenURI[uri] = i
		if _, ok := f.Upstreams[spec.Upstream]; !ok {
			fail("upstream", "%q is not in upstreams", spec.Upstream)
		}
		if spec.MaxBytes < 0 {
			fail("max_bytes", "must not be negative")
		}
		if r.Spec.MaxBytes == 0 {
			r.Spec.MaxBytes = DefaultResourceMaxBytes
		}
		props := map[string]any{}
		for _, v := range r.Vars {
			props[v] = map[string]any{"type": "string"}
		}
		required := make([]any, len(r.Vars))
		for k, v := range r.Vars {
			required[k] = v
		}
		t, err := mapping.Compile(mapping.Spec{
			Name:     spec.Name,
			Upstream: spec.Upstream,
			Method:   "GET",
			Path:     spec.Path,
			Input:    map[string]any{"type": "object", "properties": props, "required": required},
		})
		if err != nil {
			for _, e := range unjoin(err) {
				var fe *mapping.FieldError
				if errors.As(e, &fe) && fe.Field == "path" {
					e = fmt.Errorf("path: %v (the variables come from uri_template)", fe.Err)
				}
				if !strings.HasPrefix(e.Error(), "name:") {
					errs = append(errs, fmt.Errorf("%s: %w", prefix, e))
				}
			}
			continue
		}
		r.Tool = t
		cfg.Resources = append(cfg.Resources, r)
	}
	return errs
}

func compilePrompts(f *File, cfg *Config) []error {
	var errs []error
	seen := map[string]int{}
	for i, spec := range f.Prompts {
		prefix, fail := entryChecks("prompts", i, spec.Name, seen, &errs)
		var names []string
		for j, a := range spec.Arguments {
			if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(a.Name) {
				fail(fmt.Sprintf("arguments[%d].name", j), "%q is not an identifier", a.Name)
			}
			names = append(names, a.Name)
		}
		if len(spec.Messages) == 0 {
			fail("messages", "a prompt needs at least one message")
		}
		p := &Prompt{Spec: spec}
		ok := true
		for j, m := range spec.Messages {
			field := fmt.Sprintf("messages[%d]", j)
			role := m.Role
			if role == "" {
				role = "user"
			}
			if role != "user" && role != "assistant" {
				fail(field+".role", "%q is not user or assistant", m.Role)
			}
			var kinds []string
			var src string
			for _, k := range []struct{ kind, src string }{{"text", m.Text}, {"resource", m.Resource}, {"image", m.Image}} {
				if k.src != "" {
					kinds = append(kinds, k.kind)
					src = k.src
				}
			}
			if len(kinds) != 1 {
				fail(field, "set exactly one of text, resource and image")
				ok = false
				continue
			}
			tmpl, err := mapping.CompileTemplate(field+"."+kinds[0], src, names)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", prefix, err))
				ok = false
				continue
			}
			p.Messages = append(p.Messages, Message{Role: role, Kind: kinds[0], Value: tmpl})
		}
		if ok {
			cfg.Prompts = append(cfg.Prompts, p)
		}
	}
	return errs
}
