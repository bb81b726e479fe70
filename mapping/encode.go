package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Serialisation styles of query parameters and form fields.
const (
	styleRepeat     = "repeat"
	styleComma      = "comma"
	styleSpace      = "space"
	stylePipe       = "pipe"
	styleJSON       = "json"
	styleDeepObject = "deepObject"
	styleExplode    = "explode"
	// styleForm is the form default: arrays repeat the field, objects use
	// brackets (a[k]=v), arrays inside objects are indexed (a[k][0]=v).
	styleForm = "form"
	// styleBrackets encodes everything with brackets: a[k]=v, a[0]=v.
	styleBrackets = "brackets"
)

// params is an ordered list of query parameters or form fields. Unlike
// url.Values it can hold a value that is already escaped (the space style
// joins with %20, which url.Values would write as +).
type params []param

type param struct {
	name, value string
	escaped     bool
}

func (p *params) add(name, value string) { *p = append(*p, param{name: name, value: value}) }

// encode renders name=value pairs sorted by name (stable: repeated names
// keep their order), as url.Values.Encode does.
func (p params) encode() string {
	if len(p) == 0 {
		return ""
	}
	sort.SliceStable(p, func(i, j int) bool { return p[i].name < p[j].name })
	var b strings.Builder
	for i, e := range p {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(e.name))
		b.WriteByte('=')
		if e.escaped {
			b.WriteString(e.value)
		} else {
			b.WriteString(url.QueryEscape(e.value))
		}
	}
	return b.String()
}

var styles = map[string]bool{styleRepeat: true, styleComma: true, styleSpace: true, stylePipe: true, styleJSON: true, styleDeepObject: true, styleExplode: true}

// addParam serialises one query parameter or form field into q.
func addParam(q *params, name string, v any, style string) error {
	if v == nil {
		return nil
	}
	if s, ok, err := scalarText(v); ok || err != nil {
		if err == nil {
			q.add(name, s)
		}
		return err
	}
	if style == styleJSON {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("result is not representable as JSON: %w", err)
		}
		q.add(name, string(b))
		return nil
	}
	if arr, ok := asSlice(v); ok {
		vals, err := textValues(arr)
		if err != nil {
			return err
		}
		switch style {
		case styleComma:
			q.add(name, strings.Join(vals, ","))
		case styleSpace:
			esc := make([]string, len(vals))
			for i, v := range vals {
				esc[i] = url.QueryEscape(v)
			}
			*q = append(*q, param{name: name, value: strings.Join(esc, "%20"), escaped: true})
		case stylePipe:
			q.add(name, strings.Join(vals, "|"))
		case styleBrackets:
			for i, e := range arr {
				if err := addParam(q, name+"["+strconv.Itoa(i)+"]", e, styleBrackets); err != nil {
					return err
				}
			}
		default: // repeat, explode, deepObject, form
			for _, s := range vals {
				q.add(name, s)
			}
		}
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		vals, err := textValues(v)
		for _, s := range vals {
			q.add(name, s)
		}
		return err
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	switch style {
	case styleDeepObject, styleBrackets, styleForm:
		for _, k := range keys {
			if err := addParam(q, name+"["+k+"]", obj[k], styleBrackets); err != nil {
				return err
			}
		}
	case styleExplode:
		for _, k := range keys {
			if err := addParam(q, k, obj[k], styleRepeat); err != nil {
				return err
			}
		}
	case styleComma, styleSpace, stylePipe:
		sep := map[string]string{styleComma: ",", styleSpace: " ", stylePipe: "|"}[style]
		parts := make([]string, 0, 2*len(keys))
		for _, k := range keys {
			vals, err := textValues(obj[k])
			if err != nil {
				return err
			}
			parts = append(parts, k, strings.Join(vals, ","))
		}
		q.add(name, strings.Join(parts, sep))
	default: // repeat: objects as JSON
		b, err := json.Marshal(obj)
		if err != nil {
			return fmt.Errorf("result is not representable as JSON: %w", err)
		}
		q.add(name, string(b))
	}
	return nil
}

// FilePart is a file in a multipart body, made by the file() function.
type FilePart struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Data        string `json:"data"`
}

// fileFunc implements file(data, filename[, content_type]).
func fileFunc(params ...any) (any, error) {
	if len(params) < 2 || len(params) > 3 {
		return nil, fmt.Errorf("file: want file(data, filename[, content_type])")
	}
	data, ok1 := params[0].(string)
	name, ok2 := params[1].(string)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("file: data and filename must be strings")
	}
	ct := "application/octet-stream"
	if len(params) == 3 {
		s, ok := params[2].(string)
		if !ok {
			return nil, fmt.Errorf("file: content_type must be a string")
		}
		ct = s
	}
	if strings.ContainsAny(name, "\r\n\"") || strings.ContainsAny(ct, "\r\n") {
		return nil, fmt.Errorf("file: filename and content type must not contain quotes or line breaks")
	}
	return FilePart{Filename: name, ContentType: ct, Data: data}, nil
}

// writeMultipart encodes fields (sorted by name) as multipart/form-data.
func writeMultipart(fields []namedValue) ([]byte, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		vals := []any{f.value}
		if arr, ok := asSlice(f.value); ok {
			vals = arr
		}
		for _, v := range vals {
			if v == nil {
				continue
			}
			if fp, ok := v.(FilePart); ok {
				h := textproto.MIMEHeader{}
				h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, f.name, fp.Filename))
				h.Set("Content-Type", fp.ContentType)
				pw, err := w.CreatePart(h)
				if err != nil {
					return nil, "", err
				}
				pw.Write([]byte(fp.Data))
				continue
			}
			s, ok, err := scalarText(v)
			if err != nil {
				return nil, "", fmt.Errorf("%s: %w", f.name, err)
			}
			if !ok {
				b, err := json.Marshal(v)
				if err != nil {
					return nil, "", fmt.Errorf("%s: result is not representable as JSON: %w", f.name, err)
				}
				s = string(b)
			}
			if err := w.WriteField(f.name, s); err != nil {
				return nil, "", err
			}
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

type namedValue struct {
	name  string
	value any
}
