package openapi

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// Scheme is a security scheme an operation requires. Its credential comes
// from the upstream's configuration (credentials keyed by Name), never from
// the agent.
type Scheme struct {
	// Name is the key under components.securitySchemes.
	Name string
	// Type is apiKey, http, oauth2 or openIdConnect.
	Type string
	// In and Param place an apiKey: in header, query or cookie, under Param.
	In, Param string
	// HTTPScheme is bearer or basic for Type http.
	HTTPScheme string
}

// Requirement is one way to satisfy an operation's security: every scheme
// in it. An empty Requirement means anonymous access is allowed.
type Requirement []Scheme

// schemes reads components.securitySchemes.
func (im *importer) readSchemes(root map[string]any) map[string]Scheme {
	out := map[string]Scheme{}
	comps, _ := root["components"].(map[string]any)
	schemes, _ := comps["securitySchemes"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(schemes)) {
		_, s, _, err := im.refs.deref(im.refs.spec, schemes[name])
		m, ok := s.(map[string]any)
		if err != nil || !ok {
			im.warn("securitySchemes.%s: not usable", name)
			continue
		}
		sc := Scheme{Name: name}
		sc.Type, _ = m["type"].(string)
		switch sc.Type {
		case "apiKey":
			sc.In, _ = m["in"].(string)
			sc.Param, _ = m["name"].(string)
			if sc.Param == "" || sc.In != "header" && sc.In != "query" && sc.In != "cookie" {
				im.warn("securitySchemes.%s: an apiKey needs a name and in: header, query or cookie", name)
				continue
			}
			if sc.In == "header" {
				sc.Param = http.CanonicalHeaderKey(sc.Param)
			}
		case "http":
			s, _ := m["scheme"].(string)
			sc.HTTPScheme = strings.ToLower(s)
			if sc.HTTPScheme != "bearer" && sc.HTTPScheme != "basic" {
				im.warn("securitySchemes.%s: http scheme %q is not supported (bearer and basic are)", name, s)
				continue
			}
		case "oauth2", "openIdConnect":
			// Sent as a bearer token configured for the upstream.
		default:
			im.warn("securitySchemes.%s: type %q is not supported", name, sc.Type)
			continue
		}
		out[name] = sc
	}
	return out
}

// security returns the requirements of an operation: its own security, or
// the document's.
func (im *importer) security(o *operation) ([]Requirement, []string) {
	v, ok := o.op["security"]
	if !ok {
		v = im.rootSecurity
	}
	list, _ := v.([]any)
	var out []Requirement
	var notes []string
	for _, e := range list {
		m, _ := e.(map[string]any)
		req := Requirement{}
		usable := true
		for _, name := range slices.Sorted(maps.Keys(m)) {
			sc, ok := im.schemes[name]
			if !ok {
				notes = append(notes, fmt.Sprintf("security scheme %q is not defined or not supported", name))
				usable = false
				break
			}
			req = append(req, sc)
		}
		if usable {
			out = append(out, req)
		}
	}
	return out, notes
}

// isCredentialParam tells whether a parameter is where a security scheme
// puts its credential: such parameters are filled by the upstream's
// configuration, never offered to agents.
func (im *importer) isCredentialParam(name, in string) bool {
	for _, sc := range im.schemes {
		if sc.Type != "apiKey" || sc.In != in {
			continue
		}
		if in == "header" && sc.Param == http.CanonicalHeaderKey(name) || in != "header" && sc.Param == name {
			return true
		}
	}
	return false
}
