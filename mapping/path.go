package mapping

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// pathTemplate is a parsed path: literal parts (already escaped, as written in
// the config) and {name} placeholders.
type pathTemplate struct {
	parts []pathPart
}

type pathPart struct {
	literal string
	param   string // set for a placeholder
	// op is the RFC 6570 operator of the placeholder: 0 (simple, {x}),
	// '.' (label, {.x}) or ';' (matrix, {;x}); explode is its * modifier.
	// These are OpenAPI's path styles simple, label and matrix.
	op      byte
	explode bool
}

// parsePath parses and checks a path template against the input schema.
func parsePath(p string, in *inputSchema) (pathTemplate, []error) {
	var t pathTemplate
	var errs []error
	if p == "" {
		return t, nil
	}
	if !strings.HasPrefix(p, "/") {
		errs = append(errs, fmt.Errorf("%q must start with /", p))
	}
	if strings.ContainsAny(p, "?#") {
		errs = append(errs, fmt.Errorf("%q must not contain ? or # (map query parameters under query:)", p))
	}
	seen := map[string]bool{}
	rest := p
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			t.parts = append(t.parts, pathPart{literal: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, pathPart{literal: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			errs = append(errs, fmt.Errorf("unclosed { in %q", p))
			break
		}
		name := rest[open+1 : open+end]
		rest = rest[open+end+1:]
		raw := name
		var op byte
		if name != "" && (name[0] == '.' || name[0] == ';') {
			op, name = name[0], name[1:]
		}
		explode := strings.HasSuffix(name, "*")
		name = strings.TrimSuffix(name, "*")
		if name == "" || strings.ContainsAny(name, "{/*") {
			errs = append(errs, fmt.Errorf("bad placeholder {%s} in %q", raw, p))
			continue
		}
		t.parts = append(t.parts, pathPart{param: name, op: op, explode: explode})
		if seen[name] {
			continue
		}
		seen[name] = true
		if in == nil {
			continue
		}
		prop, ok := in.properties[name]
		if !ok {
			errs = append(errs, fmt.Errorf("parameter %q is not in input", name))
			continue
		}
		if _, hasDefault := prop["default"]; !in.required[name] && !hasDefault {
			errs = append(errs, fmt.Errorf("parameter %q must be required or have a default", name))
		}
		if typ, ok := prop["type"].(string); ok && typ == "null" {
			errs = append(errs, fmt.Errorf("parameter %q has type null; a path segment needs a value", name))
		}
	}
	for _, part := range t.parts {
		if part.param == "" && strings.Contains(part.literal, "}") {
			errs = append(errs, fmt.Errorf("unopened } in %q", p))
		}
		if part.param == "" {
			if _, err := url.PathUnescape(part.literal); err != nil {
				errs = append(errs, fmt.Errorf("bad escape in %q: %v", p, err))
			}
		}
	}
	return t, errs
}

// params returns the names of the placeholders.
func (t pathTemplate) params() map[string]bool {
	m := map[string]bool{}
	for _, p := range t.parts {
		if p.param != "" {
			m[p.param] = true
		}
	}
	return m
}

// build fills the placeholders from args and returns the escaped path.
func (t pathTemplate) build(args map[string]any) (string, []string) {
	var b strings.Builder
	var problems []string
	for _, part := range t.parts {
		if part.param == "" {
			b.WriteString(part.literal)
			continue
		}
		if err := part.write(&b, args[part.param]); err != nil {
			problems = append(problems, "/"+part.param+": "+err.Error())
		}
	}
	return b.String(), problems
}

// write renders one placeholder as RFC 6570 (and OpenAPI's simple, label and
// matrix styles) define it. Scalars are one escaped segment value; arrays
// list their elements, objects their keys (sorted) and values. Every value
// passes the checks of a path segment and is percent-encoded, so the
// separators written here are the only unescaped ones.
func (part pathPart) write(b *strings.Builder, v any) error {
	sep := ","
	if part.explode {
		switch part.op {
		case '.':
			sep = "."
		case ';':
			sep = ";"
		}
	}
	prefix := func() {
		if part.op != 0 {
			b.WriteByte(part.op)
		}
	}
	named := func(name string, s string) {
		b.WriteString(url.PathEscape(name))
		if s != "" || part.op != ';' {
			b.WriteByte('=')
		}
		b.WriteString(url.PathEscape(s))
	}
	if arr, ok := asSlice(v); ok {
		if len(arr) == 0 {
			return errors.New("must not be empty (it fills a path segment)")
		}
		vals := make([]string, len(arr))
		for i, e := range arr {
			s, err := pathSegment(e)
			if err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
			vals[i] = s
		}
		prefix()
		for i, s := range vals {
			if i > 0 {
				b.WriteString(sep)
			}
			if part.op == ';' && (part.explode || i == 0) {
				b.WriteString(url.PathEscape(part.param) + "=")
			}
			b.WriteString(url.PathEscape(s))
		}
		return nil
	}
	if obj, ok := v.(map[string]any); ok {
		if len(obj) == 0 {
			return errors.New("must not be empty (it fills a path segment)")
		}
		keys := slices.Sorted(maps.Keys(obj))
		vals := make([]string, len(keys))
		for i, k := range keys {
			if err := checkSegments(k); err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			s, err := pathSegment(obj[k])
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			vals[i] = s
		}
		prefix()
		if part.op == ';' && !part.explode {
			b.WriteString(url.PathEscape(part.param) + "=")
		}
		for i, k := range keys {
			if i > 0 {
				b.WriteString(sep)
			}
			if part.explode {
				b.WriteString(url.PathEscape(k) + "=" + url.PathEscape(vals[i]))
				continue
			}
			b.WriteString(url.PathEscape(k) + "," + url.PathEscape(vals[i]))
		}
		return nil
	}
	s, err := pathSegment(v)
	if err != nil {
		return err
	}
	prefix()
	if part.op == ';' {
		named(part.param, s)
		return nil
	}
	b.WriteString(url.PathEscape(s))
	return nil
}

// pathSegment renders one path argument and rejects values that would move
// the request elsewhere once an upstream or an intermediary decodes them.
func pathSegment(v any) (string, error) {
	if v == nil {
		return "", errors.New("missing (it fills a path segment)")
	}
	s, ok, err := scalarText(v)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("must be a string or a number to fill a path segment, not %s", jsonKind(v))
	}
	if s == "" {
		return "", errors.New("must not be empty (it fills a path segment)")
	}
	if err := checkSegments(s); err != nil {
		return "", err
	}
	// An intermediary or upstream that decodes the path twice would see
	// %2e%2e as "..": check the value decoded once, too.
	if strings.IndexByte(s, '%') >= 0 {
		if err := checkSegments(lenientUnescape(s)); err != nil {
			return "", fmt.Errorf("%q decodes to a value that is not allowed in a path segment: %w", s, err)
		}
	}
	return s, nil
}

// checkSegments rejects "." and ".." segments (between / and \ separators)
// and control characters, without allocating.
func checkSegments(s string) error {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			if c := s[i]; c < 0x20 || c == 0x7f {
				return errors.New("contains a control character")
			}
			if s[i] != '/' && s[i] != '\\' {
				continue
			}
		}
		if seg := s[start:i]; seg == "." || seg == ".." {
			return fmt.Errorf("%q contains a %q path segment", s, seg)
		}
		start = i + 1
	}
	return nil
}

// lenientUnescape decodes valid %XX escapes and leaves anything else as it
// is, as lenient servers do.
func lenientUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
