package openapi

import (
	"fmt"
	"maps"
	"mime"
	"slices"
	"strings"
)

type bodyKind int

const (
	bodyNone bodyKind = iota
	bodyJSON
	bodyForm
	bodyMultipart
)

// mediaKind classifies a request body media type.
func mediaKind(mt string) bodyKind {
	mt = strings.ToLower(strings.TrimSpace(strings.SplitN(mt, ";", 2)[0]))
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "*/*" || mt == "application/*" || strings.Contains(mt, "/json"):
		return bodyJSON
	case mt == "application/x-www-form-urlencoded":
		return bodyForm
	case strings.HasPrefix(mt, "multipart/"):
		return bodyMultipart
	}
	return bodyNone
}

// requestBody maps the operation's body: an object body's properties become
// arguments (renamed on a collision), anything else one "body" argument.
// JSON is preferred over a form, a form over multipart.
func (b *toolBuilder) requestBody(o *operation) error {
	rbV, ok := o.op["requestBody"]
	if !ok {
		return nil
	}
	d, raw, _, err := b.im.refs.deref(b.im.refs.spec, rbV)
	if err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	rb, _ := raw.(map[string]any)
	content, _ := rb["content"].(map[string]any)
	if len(content) == 0 {
		return nil
	}
	required, _ := rb["required"].(bool)
	var kind bodyKind
	var media map[string]any
	var mediaType string
	for _, want := range []bodyKind{bodyJSON, bodyForm, bodyMultipart} {
		for _, mt := range slices.Sorted(maps.Keys(content)) {
			if mediaKind(mt) == want {
				kind, mediaType = want, mt
				media, _ = content[mt].(map[string]any)
				break
			}
		}
		if kind != bodyNone {
			break
		}
	}
	if o.method == "GET" || o.method == "HEAD" {
		b.notes = append(b.notes, fmt.Sprintf("a %s request has no body; the request body is ignored", o.method))
		return nil
	}
	if kind == bodyNone {
		// Any other media type is sent as it is: text from a string
		// argument, anything else from base64.
		mediaType = slices.Sorted(maps.Keys(content))[0]
		key := b.claim("body", "body")
		desc, _ := rb["description"].(string)
		schema := map[string]any{"type": "string"}
		if strings.HasPrefix(mediaType, "text/") {
			b.spec.Raw = argRef(key)
		} else {
			schema["contentEncoding"] = "base64"
			if desc = strings.TrimSpace(desc); desc != "" {
				desc += " (" + mediaType + ", base64-encoded)"
			} else {
				desc = "The " + mediaType + " content, base64-encoded."
			}
			b.spec.Raw = argRef(key) + " == nil ? nil : fromBase64(" + argRef(key) + ")"
		}
		if _, _, err := mime.ParseMediaType(mediaType); err == nil && !strings.Contains(mediaType, "*") {
			b.spec.RawContentType = mediaType
		}
		b.addArg(key, schema, required, desc)
		return nil
	}
	schema := b.conv.schema(d, media["schema"], 0, nil)
	encoding, _ := media["encoding"].(map[string]any)
	desc, _ := rb["description"].(string)

	props, _ := schema["properties"].(map[string]any)
	flat := len(props) > 0 && schema["anyOf"] == nil && (schema["additionalProperties"] == nil || schema["additionalProperties"] == false)
	if !flat {
		if kind != bodyJSON {
			return fmt.Errorf("request body (%s) is not an object with properties", mediaType)
		}
		key := b.claim("body", "body")
		b.spec.Body = valueRef(key, schema)
		b.addArg(key, schema, required, strings.TrimSpace(desc))
		return nil
	}
	req := map[string]bool{}
	if r, ok := schema["required"].([]any); ok && required {
		for _, e := range r {
			if s, ok := e.(string); ok {
				req[s] = true
			}
		}
	}
	names := slices.Sorted(maps.Keys(props))
	fields := map[string]string{}
	var styles map[string]string
	for _, name := range names {
		ps, _ := props[name].(map[string]any)
		key := b.claim(name, "body")
		var ref string
		if ps != nil {
			ref = valueRef(key, ps)
		} else {
			ref = argRef(key)
		}
		switch kind {
		case bodyJSON:
			fields[name] = ref
		case bodyForm:
			fields[name] = ref
			if st := formStyle(ps, encoding[name]); st != "" {
				if styles == nil {
					styles = map[string]string{}
				}
				styles[name] = st
			}
		case bodyMultipart:
			if ps == nil {
				ps = map[string]any{}
			}
			fields[name], ps = multipartField(name, ref, ps, encoding[name])
		}
		b.addArg(key, ps, req[name], "")
	}
	switch kind {
	case bodyJSON:
		body := make(map[string]any, len(fields))
		for k, v := range fields {
			body[k] = v
		}
		b.spec.Body = body
	case bodyForm:
		b.spec.Form = fields
		b.spec.FormStyle = styles
	case bodyMultipart:
		b.spec.Multipart = fields
	}
	return nil
}

// formStyle is the form_style of one form field: its encoding's style and
// explode (style form, explode true by default: arrays repeat the field,
// an object's keys become fields), or JSON for a JSON content type.
func formStyle(ps map[string]any, encV any) string {
	enc, _ := encV.(map[string]any)
	if ct, _ := enc["contentType"].(string); strings.Contains(ct, "json") {
		return "json"
	}
	style, _ := enc["style"].(string)
	explode := style == "" || style == "form"
	if e, ok := enc["explode"].(bool); ok {
		explode = e
	}
	isObject := hasType(ps, "object") || ps["properties"] != nil
	switch {
	case style == "deepObject":
		return "deepObject"
	case explode && isObject:
		return "explode"
	case explode:
		return ""
	case style == "spaceDelimited":
		return "space"
	case style == "pipeDelimited":
		return "pipe"
	}
	return "comma"
}

// isBinary tells whether a schema describes file content.
func isBinary(s map[string]any) bool {
	f, _ := s["format"].(string)
	return hasType(s, "string") && (f == "binary" || f == "base64" || f == "byte") || s["contentMediaType"] != nil || s["contentEncoding"] != nil
}

// multipartField maps one multipart field. Files arrive base64-encoded in
// a string argument and are sent as file parts; objects and arrays of
// values are sent as JSON text.
func multipartField(name, ref string, ps map[string]any, encV any) (string, map[string]any) {
	enc, _ := encV.(map[string]any)
	ct, _ := enc["contentType"].(string)
	ctArg := ""
	if ct != "" && !strings.Contains(ct, ",") && !strings.Contains(ct, "*") {
		ctArg = ", " + quote(ct)
	}
	fileSchema := func(s map[string]any) map[string]any {
		out := map[string]any{"type": "string", "contentEncoding": "base64"}
		d, _ := s["description"].(string)
		if d = strings.TrimSpace(d); d != "" {
			out["description"] = d + " (file content, base64-encoded)"
		} else {
			out["description"] = "File content, base64-encoded."
		}
		return out
	}
	switch {
	case isBinary(ps):
		return ref + " == nil ? nil : file(fromBase64(" + ref + "), " + quote(name) + ctArg + ")", fileSchema(ps)
	case hasType(ps, "array"):
		items, _ := ps["items"].(map[string]any)
		if isBinary(items) {
			s := map[string]any{"type": "array", "items": fileSchema(items)}
			if d, ok := ps["description"]; ok {
				s["description"] = d
			}
			return ref + " == nil ? nil : map(" + ref + ", file(fromBase64(#), " + quote(name) + ctArg + "))", s
		}
		if hasType(items, "object") || hasType(items, "array") {
			return ref + " == nil ? nil : toJSON(" + ref + ")", ps
		}
		return ref, ps
	case hasType(ps, "object") || ps["properties"] != nil:
		return ref + " == nil ? nil : toJSON(" + ref + ")", ps
	}
	return ref, ps
}

// responses derives the error message of non-2xx answers from the spec's
// descriptions, and the output schema when asked for.
func (b *toolBuilder) responses(o *operation) {
	resps, _ := o.op["responses"].(map[string]any)
	descs := map[string]string{}
	var success map[string]any
	var successDoc *document
	for _, code := range slices.Sorted(maps.Keys(resps)) {
		d, raw, _, err := b.im.refs.deref(b.im.refs.spec, resps[code])
		r, ok := raw.(map[string]any)
		if err != nil || !ok {
			continue
		}
		upper := strings.ToUpper(code)
		if strings.HasPrefix(upper, "2") {
			if success == nil {
				if content, ok := r["content"].(map[string]any); ok {
					for _, mt := range slices.Sorted(maps.Keys(content)) {
						if mediaKind(mt) == bodyJSON && mt != "*/*" {
							success, _ = content[mt].(map[string]any)
							successDoc = d
							break
						}
					}
				}
			}
			continue
		}
		if desc, ok := r["description"].(string); ok && strings.TrimSpace(desc) != "" {
			descs[upper] = truncate(strings.Join(strings.Fields(desc), " "), 200)
		}
	}
	if len(descs) > 0 {
		b.spec.Response.Statuses = descs
	}
	if b.im.opts.OutputSchema && success != nil && success["schema"] != nil {
		c := &converter{refs: b.im.refs, dir: output}
		s := c.schema(successDoc, success["schema"], 0, nil)
		if t, ok := s["type"].(string); !ok || t != "object" {
			s = map[string]any{"type": "object", "properties": map[string]any{"result": s}}
		}
		b.spec.OutputSchema = s
		for n := range c.notes {
			b.notes = append(b.notes, "output schema: "+n)
		}
	}
}
