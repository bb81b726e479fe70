package proxy

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// FuzzAppendResult: the hand-written encoder writes what the SDK's does,
// byte for byte, or fails where it fails.
func FuzzAppendResult(f *testing.F) {
	for _, seed := range []struct {
		text, structured string
		isError          bool
	}{
		{`{"id":1,"name":"Rex"}`, `{"id":1,"name":"Rex"}`, false},
		{"", "", true},
		{"<b>&amp;</b> \u2028 \u2029 \x00 \x1f \x7f \"quoted\" back\\slash \t\n\r", `{ "html": "<b>&</b>", "ls": "\u2028", "n": [1, 2.5e10, -0, 123456789012345678901234567890] }`, false},
		{"\xff\xfe invalid UTF-8 \xc3", `"just a string"`, true},
		{"日本語 😀", `[ ]`, false},
		{"x", `{"a":}`, false}, // not JSON: both fail
		{"x", `null`, false},
		{"x", "{\"\xff\":1}", false},
	} {
		f.Add(seed.text, seed.structured, seed.isError)
	}
	f.Fuzz(func(t *testing.T, text, structured string, isError bool) {
		res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}, IsError: isError}
		if structured != "" {
			res.StructuredContent = json.RawMessage(structured)
		}
		want, wantErr := res.MarshalJSON()
		got, err := appendResult([]byte(`{"result":`), res)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, the SDK's %v", err, wantErr)
		}
		got, ok := bytes.CutPrefix(got, []byte(`{"result":`))
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("encoded\n%s\nthe SDK\n%s", got, want)
		}
	})
}

// Results of another shape go to the SDK's encoder.
func TestAppendResultOtherShapes(t *testing.T) {
	for name, res := range map[string]*mcp.CallToolResult{
		"two contents":    {Content: []mcp.Content{&mcp.TextContent{Text: "a"}, &mcp.TextContent{Text: "b"}}},
		"no content":      {Content: nil},
		"image":           {Content: []mcp.Content{&mcp.ImageContent{Data: []byte{1, 2}, MIMEType: "image/png"}}},
		"meta":            {Meta: mcp.Meta{"k": "v"}, Content: []mcp.Content{&mcp.TextContent{Text: "a"}}},
		"annotated":       {Content: []mcp.Content{&mcp.TextContent{Text: "a", Annotations: &mcp.Annotations{Priority: 1}}}},
		"map structured":  {Content: []mcp.Content{&mcp.TextContent{Text: "a"}}, StructuredContent: map[string]any{"<": 1}},
		"nil raw message": {Content: []mcp.Content{&mcp.TextContent{Text: "a"}}, StructuredContent: json.RawMessage(nil)},
	} {
		want, wantErr := res.MarshalJSON()
		got, err := appendResult(nil, res)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("%s: %s, %v; the SDK: %s, %v", name, got, err, want, wantErr)
		}
	}
}
