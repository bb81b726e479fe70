package mapping

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Result is a shaped tool result.
type Result struct {
	IsError bool
	// Text is what the model reads.
	Text string
	// Structured is the structured result (a JSON object), or nil.
	Structured json.RawMessage
	// Binary is an image or other binary body, or nil.
	Binary *Binary
	// Contents, when set (by response.content), is the whole content list;
	// Text and Binary are then empty.
	Contents []Content
}

// Content is one item of a result's content list.
type Content struct {
	// Type is text, image, audio or resource.
	Type     string
	Text     string
	Data     []byte // image, audio, or a resource's blob
	MIMEType string
	URI      string // resource
}

// Binary is binary content: images become MCP image content, other types
// embedded resources.
type Binary struct {
	MIMEType string
	Data     []byte
}

// maxErrorBody bounds how much of a non-2xx body an error result quotes.
const maxErrorBody = 1024

// ShapeResponse turns an upstream response to r into a tool result:
//   - 2xx JSON: response.result (or the JSON itself) as structured content (a
//     non-object value wrapped as {"result": value}), checked against the
//     output schema; response.text (or the compact JSON) as text;
//   - 2xx text: response.text or the body as text (response.result, when set,
//     gives structured content from it);
//   - 2xx images and other binary bodies: binary content;
//   - non-2xx: an error result with response.error, or the status and the
//     start of the body.
//
// Results over the tool's max_result_bytes are cut with a note saying how
// much. r is the request the response answers (its arguments are visible to
// expressions); nil means none.
func (t *Tool) ShapeResponse(r *Request, status int, header http.Header, body []byte) Result {
	res := t.shape(r, status, header, body)
	if t.content == nil || res.IsError {
		return res
	}
	return t.shapeContent(r, status, header, body, res)
}

func (t *Tool) shape(r *Request, status int, header http.Header, body []byte) Result {
	mediaType, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	isJSON := mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
	if !isJSON && mediaType == "" && len(body) > 0 && json.Valid(body) {
		isJSON = true
	}
	if status < 200 || status > 299 {
		return t.shapeError(r, status, header, body, isJSON)
	}
	empty := len(bytes.TrimSpace(body)) == 0
	if !empty && !isJSON && isBinary(mediaType, body) {
		return t.shapeBinary(r, status, header, mediaType, body)
	}
	needValue := t.result != nil || t.text != nil || t.output != nil
	if isJSON && !empty && !needValue {
		// The common case: the upstream's JSON as it is, compacted, into
		// a buffer with room to wrap it in {"result":…} if it is not an
		// object (a list, say) without copying it again.
		buf := make([]byte, len(wrapPrefix), len(wrapPrefix)+len(body)+1)
		copy(buf, wrapPrefix)
		buf, ok := AppendCompactJSON(buf, body, false)
		if !ok {
			return t.invalidJSON(body, mediaType, syntaxError(body))
		}
		compact := buf[len(wrapPrefix):]
		structured := json.RawMessage(compact)
		switch {
		case !utf8.Valid(compact):
			// JSON strings may carry invalid UTF-8; clients would see it
			// replaced anyway, so replace it once, here, before measuring.
			compact = bytes.ToValidUTF8(compact, []byte("\uFFFD"))
			structured = wrapObject(compact)
		case compact[0] != '{':
			structured = append(buf, '}') // within its capacity
		}
		if len(compact) <= t.maxResult {
			return Result{Text: string(compact), Structured: structured}
		}
	}

	var value any
	switch {
	case empty:
	case isJSON:
		v, err := decodeJSON(body)
		if err != nil {
			return t.invalidJSON(body, mediaType, err)
		}
		value = v
	default:
		value = string(body)
	}
	var env *ResponseEnv
	if t.result != nil || t.text != nil {
		env = t.responseEnv(r, status, header, value)
	}

	structured, hasStructured := value, isJSON && !empty
	if t.result != nil {
		v, err := t.result.run(env)
		if err != nil {
			return t.failed(err)
		}
		structured, hasStructured = v, true
	}
	if !hasStructured && t.output != nil {
		return t.failed(fmt.Errorf("the upstream answered %s, not JSON, and output_schema needs a structured result", describeMedia(mediaType, empty)))
	}
	if !hasStructured && t.text == nil {
		text := string(body)
		if empty {
			text = statusText(status) + " with an empty body"
		}
		return Result{Text: cutText(text, t.maxResult)}
	}

	var res Result
	var note string
	var full []byte // the whole structured result, encoded once
	if hasStructured {
		b, err := marshalJSON(structured)
		if err != nil {
			return t.failed(fmt.Errorf("the result is not representable as JSON: %w", err))
		}
		full = b
		if t.output != nil {
			if err := t.output.check(full); err != nil {
				return t.failed(err)
			}
		}
		if len(full) <= t.maxResult {
			res.Structured, res.Text = wrapObject(full), string(full)
		} else if fitted, n := fitJSON(structured, len(full), t.maxResult); fitted != nil {
			b, err := marshalJSON(fitted)
			if err != nil {
				return t.failed(fmt.Errorf("the result is not representable as JSON: %w", err))
			}
			res.Structured, res.Text, note = wrapObject(b), string(b), n
		}
	}
	if t.text != nil {
		v, err := t.text.run(env)
		if err != nil {
			return t.failed(err)
		}
		res.Text, _ = v.(string)
	} else if res.Structured == nil && hasStructured {
		// Too large to cut at an element boundary: the start of the text.
		res.Text = string(full)
	}
	res.Text = cutText(res.Text, t.maxResult)
	if note != "" {
		res.Text += "\n" + note
	}
	return res
}

// shapeContent evaluates response.content into the result's content list;
// the structured result stays.
func (t *Tool) shapeContent(r *Request, status int, header http.Header, body []byte, res Result) Result {
	mediaType, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	var value any
	var b64 string
	switch {
	case len(bytes.TrimSpace(body)) == 0:
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json") || (mediaType == "" && json.Valid(body)):
		value, _ = decodeJSON(body)
	case isBinary(mediaType, body):
		b64 = base64.StdEncoding.EncodeToString(body)
	default:
		value = string(body)
	}
	env := t.responseEnv(r, status, header, value)
	env.BodyBase64 = b64
	v, err := t.content.run(env)
	if err != nil {
		return t.failed(err)
	}
	items, err := contentItems(v)
	if err != nil {
		return t.failed(&EvalError{Field: "response.content", Err: err})
	}
	size := 0
	for _, it := range items {
		size += len(it.Text) + len(it.Data)
	}
	if size > t.maxResult {
		return t.failed(fmt.Errorf("response.content is %d bytes, more than max_result_bytes (%d)", size, t.maxResult))
	}
	return Result{Structured: res.Structured, Contents: items}
}

// contentItems checks and converts the value of response.content.
func contentItems(v any) ([]Content, error) {
	list, ok := asSlice(v)
	if !ok {
		return nil, fmt.Errorf("want a list of content items, got %s", jsonKind(v))
	}
	out := make([]Content, 0, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d: want an object, got %s", i, jsonKind(e))
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		c := Content{Type: str("type"), Text: str("text"), MIMEType: str("mime_type"), URI: str("uri")}
		data := str("data")
		if c.Type == "resource" {
			data = str("blob")
		}
		if data != "" {
			b, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				return nil, fmt.Errorf("item %d: data is not base64: %v", i, err)
			}
			c.Data = b
		}
		switch c.Type {
		case "text":
			if _, ok := m["text"].(string); !ok {
				return nil, fmt.Errorf("item %d: a text item needs text", i)
			}
		case "image", "audio":
			if c.Data == nil || c.MIMEType == "" {
				return nil, fmt.Errorf("item %d: an %s item needs data (base64) and mime_type", i, c.Type)
			}
		case "resource":
			if c.URI == "" || (c.Data == nil && str("text") == "" && m["text"] == nil) {
				return nil, fmt.Errorf("item %d: a resource item needs uri and text or blob", i)
			}
		default:
			return nil, fmt.Errorf("item %d: type %q is not text, image, audio or resource", i, c.Type)
		}
		out = append(out, c)
	}
	return out, nil
}

func (t *Tool) responseEnv(r *Request, status int, header http.Header, body any) *ResponseEnv {
	env := &ResponseEnv{Status: status, Body: body, Headers: make(map[string]string, len(header))}
	if r != nil {
		env.Args, env.Claims, env.Meter = r.args, r.claims, r.meter
	}
	if env.Meter == nil {
		env.Meter = newMeter()
	}
	if env.Args == nil {
		env.Args = map[string]any{}
	}
	if env.Claims == nil {
		env.Claims = map[string]any{}
	}
	for k, v := range header {
		if len(v) > 0 {
			env.Headers[strings.ToLower(k)] = v[0]
		}
	}
	return env
}

func (t *Tool) shapeError(r *Request, status int, header http.Header, body []byte, isJSON bool) Result {
	if t.errorText != nil {
		var value any
		if len(bytes.TrimSpace(body)) > 0 {
			if isJSON {
				value, _ = decodeJSON(body) // undecodable: nil
			} else if utf8.Valid(body) {
				value = string(body)
			}
		}
		v, err := t.errorText.run(t.responseEnv(r, status, header, value))
		if err == nil {
			if s, _ := v.(string); s != "" {
				return Result{IsError: true, Text: cutText(s, t.maxResult)}
			}
		}
		// A failing error expression must not hide the upstream's error.
	}
	return Result{IsError: true, Text: statusText(status) + t.statusDescription(status) + errorDetail(body)}
}

// statusDescription is the declared description of a status, in
// parentheses, or "".
func (t *Tool) statusDescription(status int) string {
	if len(t.statuses) == 0 {
		return ""
	}
	d, ok := t.statuses[strconv.Itoa(status)]
	if !ok {
		d, ok = t.statuses[strconv.Itoa(status/100)+"XX"]
	}
	if !ok {
		d, ok = t.statuses["DEFAULT"]
	}
	if !ok || d == "" {
		return ""
	}
	return " (" + d + ")"
}

// shapeBinary returns an image or other binary body as binary content, with
// response.text as its caption and response.result as structured content
// when they are set (body is nil for them).
func (t *Tool) shapeBinary(r *Request, status int, header http.Header, mediaType string, body []byte) Result {
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	var res Result
	if len(body) > t.maxResult {
		res.Text = fmt.Sprintf("upstream returned %d bytes of %s, more than max_result_bytes (%d); it was not included", len(body), mediaType, t.maxResult)
	} else {
		res.Binary = &Binary{MIMEType: mediaType, Data: body}
	}
	if t.result == nil && t.text == nil {
		return res
	}
	env := t.responseEnv(r, status, header, nil)
	if t.text != nil {
		v, err := t.text.run(env)
		if err != nil {
			return t.failed(err)
		}
		caption := cutText(v.(string), t.maxResult)
		if res.Text != "" {
			caption += "\n" + res.Text
		}
		res.Text = caption
	}
	if t.result != nil {
		v, err := t.result.run(env)
		if err != nil {
			return t.failed(err)
		}
		b, err := marshalJSON(v)
		if err != nil {
			return t.failed(fmt.Errorf("the result is not representable as JSON: %w", err))
		}
		if t.output != nil {
			if err := t.output.check(b); err != nil {
				return t.failed(err)
			}
		}
		if len(b) <= t.maxResult {
			res.Structured = wrapObject(b)
		}
	}
	return res
}

// syntaxError is encoding/json's account of what is wrong with body, which
// AppendCompactJSON refused.
func syntaxError(body []byte) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, body); err != nil {
		return err
	}
	return errors.New("not one JSON value") // unreachable while the two agree (FuzzCompact)
}

func (t *Tool) invalidJSON(body []byte, mediaType string, err error) Result {
	return Result{IsError: true, Text: fmt.Sprintf("upstream returned invalid JSON (%d bytes, content type %s): %v", len(body), mediaType, err)}
}

// failed is a result for a response that could not be shaped.
func (t *Tool) failed(err error) Result {
	return Result{IsError: true, Text: err.Error()}
}

// isBinary reports whether a 2xx body is not text: images, audio, video
// and any body that is not UTF-8.
func isBinary(mediaType string, body []byte) bool {
	switch {
	case strings.HasPrefix(mediaType, "image/"), strings.HasPrefix(mediaType, "audio/"), strings.HasPrefix(mediaType, "video/"):
		return true
	case mediaType == "application/octet-stream", mediaType == "application/pdf", mediaType == "application/zip":
		return true
	}
	return !utf8.Valid(body)
}

func describeMedia(mediaType string, empty bool) string {
	switch {
	case empty:
		return "with an empty body"
	case mediaType == "":
		return "text"
	}
	return mediaType
}

// decodeJSON decodes a body keeping integers exact (see normalizeNumbers).
func decodeJSON(body []byte) (any, error) {
	v, ok := decodeFast(body) // the same values, in one pass (decode_test.go)
	if !ok {
		var err error
		if v, err = decodeExact(body); err != nil {
			return nil, err
		}
	}
	return normalizeNumbers(v), nil
}

// marshalJSON encodes a value an expression made: by appendJSONValue, or
// by encodeJSON where that does not answer.
func marshalJSON(v any) ([]byte, error) {
	if b, ok := appendJSONValue(nil, v); ok {
		return b, nil
	}
	return encodeJSON(v)
}

// encodeJSON is encoding/json's encoding of v, without HTML escaping or the
// Encoder's newline.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// wrapPrefix starts the object a structured result that is not one is
// wrapped in.
const wrapPrefix = `{"result":`

// wrapObject returns compact JSON as structured content: objects as they
// are, anything else as {"result": value}.
func wrapObject(compact []byte) json.RawMessage {
	if len(compact) > 0 && compact[0] == '{' {
		return compact
	}
	out := make([]byte, 0, len(wrapPrefix)+len(compact)+1)
	out = append(out, wrapPrefix...)
	out = append(out, compact...)
	return append(out, '}')
}

// check validates an encoded structured result against the output schema.
func (o *outputSchema) check(encoded []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(wrapObject(encoded)))
	if err != nil {
		return err
	}
	if err := checkNumbers(doc); err != nil {
		return fmt.Errorf("the result cannot be checked against output_schema: %w", err)
	}
	if err := o.schema.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("the result does not match output_schema: %s", strings.Join(validationProblems(ve), "; "))
		}
		return fmt.Errorf("the result does not match output_schema: %v", err)
	}
	return nil
}

// fitJSON cuts v, whose encoding is total bytes (over limit), to encode
// within limit, at an element boundary of the top-level array or of the
// largest array in a top-level object. It returns nil when v cannot be cut
// to fit, and a note saying what it cut.
func fitJSON(v any, total, limit int) (any, string) {
	if arr, ok := v.([]any); ok {
		n := fitPrefix(len(arr), limit, func(n int) any { return arr[:n] })
		if n < 0 {
			return nil, ""
		}
		return arr[:n], cutNote(n, len(arr), "", total, limit)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, ""
	}
	var key string
	var size int
	for k, e := range obj {
		if arr, ok := e.([]any); ok {
			eb, _ := marshalJSON(arr)
			if len(eb) > size {
				key, size = k, len(eb)
			}
		}
	}
	if key == "" {
		return nil, ""
	}
	arr := obj[key].([]any)
	cut := make(map[string]any, len(obj))
	for k, e := range obj {
		cut[k] = e
	}
	n := fitPrefix(len(arr), limit, func(n int) any { cut[key] = arr[:n]; return cut })
	if n < 0 {
		return nil, ""
	}
	cut[key] = arr[:n]
	return cut, cutNote(n, len(arr), key, total, limit)
}

// fitPrefix finds the largest n ≤ total whose build(n) encodes within
// limit, or -1.
func fitPrefix(total, limit int, build func(int) any) int {
	lo, hi := 0, total // invariant: the answer is in [lo-1, hi)
	best := -1
	for lo <= hi {
		mid := (lo + hi) / 2
		b, err := marshalJSON(build(mid))
		if err == nil && len(b) <= limit {
			best, lo = mid, mid+1
		} else {
			hi = mid - 1
		}
	}
	return best
}

func cutNote(shown, total int, key string, size, limit int) string {
	where := "items"
	if key != "" {
		where = fmt.Sprintf("items of %q", key)
	}
	return fmt.Sprintf("[truncated: showing %d of %d %s; the full result is %d bytes, over max_result_bytes (%d); narrow the request to see the rest]", shown, total, where, size, limit)
}

// cutText cuts s to at most limit bytes at a UTF-8 boundary, with a note.
func cutText(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s\n[truncated: showing %d of %d bytes, over max_result_bytes (%d)]", s[:cut], cut, len(s), limit)
}

func statusText(status int) string {
	if s := http.StatusText(status); s != "" {
		return fmt.Sprintf("upstream returned HTTP %d %s", status, s)
	}
	return fmt.Sprintf("upstream returned HTTP %d", status)
}

// errorDetail quotes the start of an error body: compact JSON, or text with
// runs of white space folded; binary bodies are only counted.
func errorDetail(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	if strings.IndexByte(`{["-0123456789tfn`, body[0]) >= 0 {
		// Only what may be JSON: an HTML error page is not copied.
		if compact, ok := AppendCompactJSON(nil, body, false); ok {
			body = compact
		}
	}
	if !utf8.Valid(body) {
		return fmt.Sprintf(" (%d-byte binary body)", len(body))
	}
	text := strings.Join(strings.Fields(string(body)), " ")
	if len(text) > maxErrorBody {
		cut := maxErrorBody
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = fmt.Sprintf("%s… (%d more bytes)", text[:cut], len(text)-cut)
	}
	return ": " + text
}
