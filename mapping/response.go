package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Result is a shaped tool result.
type Result struct {
	IsError bool
	// Text is what the model reads.
	Text string
	// Structured is the structured result (a JSON object), or nil.
	Structured json.RawMessage
}

// maxErrorBody bounds how much of a non-2xx body an error result quotes.
const maxErrorBody = 1024

// ShapeResponse turns an upstream response into a tool result:
//   - 2xx with a JSON body: the compact JSON as text and as structured
//     content (a non-object value is wrapped as {"result": value});
//   - other 2xx bodies: the body as text (binary bodies are described);
//   - non-2xx: an error result with the status and the start of the body.
func (t *Tool) ShapeResponse(status int, header http.Header, body []byte) Result {
	mediaType, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	isJSON := mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
	if status < 200 || status > 299 {
		return Result{IsError: true, Text: statusText(status) + errorDetail(body, isJSON)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return Result{Text: statusText(status) + " with an empty body"}
	}
	if isJSON || (mediaType == "" && json.Valid(body)) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, body); err != nil {
			return Result{IsError: true, Text: fmt.Sprintf("upstream returned invalid JSON (%d bytes, content type %s): %v", len(body), mediaType, err)}
		}
		compact := buf.Bytes()
		structured := compact
		if compact[0] != '{' {
			structured = make([]byte, 0, len(compact)+11)
			structured = append(structured, `{"result":`...)
			structured = append(structured, compact...)
			structured = append(structured, '}')
		}
		return Result{Text: string(compact), Structured: structured}
	}
	if !utf8.Valid(body) {
		if mediaType == "" {
			mediaType = "application/octet-stream"
		}
		return Result{Text: fmt.Sprintf("upstream returned %d bytes of %s", len(body), mediaType)}
	}
	return Result{Text: string(body)}
}

func statusText(status int) string {
	if s := http.StatusText(status); s != "" {
		return fmt.Sprintf("upstream returned HTTP %d %s", status, s)
	}
	return fmt.Sprintf("upstream returned HTTP %d", status)
}

// errorDetail quotes the start of an error body: compact JSON, or text with
// runs of white space folded; binary bodies are only counted.
func errorDetail(body []byte, isJSON bool) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	if isJSON || json.Valid(body) {
		var buf bytes.Buffer
		if json.Compact(&buf, body) == nil {
			body = buf.Bytes()
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
