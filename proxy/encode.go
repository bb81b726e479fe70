package proxy

import (
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/api2mcp/api2mcp/internal/jsoncompact"
)

// marshalResult is res.MarshalJSON, written by hand for the result api2mcp
// makes of most answers: one text content without metadata, and raw
// structured content. The SDK's encoder goes through reflection and encodes
// the text twice (the content's own MarshalJSON, then the result's encoder
// checking and compacting what that returned); here each part is encoded
// once. Any other result goes to the SDK. The output is the SDK's byte for
// byte (compact, HTML-escaped), which FuzzMarshalResult checks.
func marshalResult(res *mcp.CallToolResult) ([]byte, error) {
	if len(res.Content) != 1 || res.Meta != nil || res.InputRequests != nil || res.RequestState != "" {
		return res.MarshalJSON()
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok || tc.Meta != nil || tc.Annotations != nil {
		return res.MarshalJSON()
	}
	var structured []byte
	switch sc := res.StructuredContent.(type) {
	case nil:
	case json.RawMessage:
		if sc == nil {
			return res.MarshalJSON()
		}
		// As encoding/json writes a RawMessage: compacted, with <, >, &,
		// U+2028 and U+2029 escaped in its strings.
		var ok bool
		if structured, ok = jsoncompact.Append(make([]byte, 0, len(sc)+16), sc, true); !ok {
			return res.MarshalJSON() // the SDK's error
		}
	default:
		return res.MarshalJSON()
	}
	text, err := json.Marshal(tc.Text)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(text)+len(structured)+len(`{"content":[{"type":"text","text":}],"structuredContent":,"isError":true}`))
	out = append(out, `{"content":[{"type":"text","text":`...)
	out = append(out, text...)
	out = append(out, "}]"...)
	if structured != nil {
		out = append(out, `,"structuredContent":`...)
		out = append(out, structured...)
	}
	if res.IsError {
		out = append(out, `,"isError":true`...)
	}
	return append(out, '}'), nil
}
