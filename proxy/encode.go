package proxy

import (
	"encoding/json"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/api2mcp/api2mcp/mapping"
)

// appendResult appends res.MarshalJSON() to dst, written by hand for the
// result api2mcp makes of most answers: one text content without metadata,
// and raw structured content. The SDK's encoder goes through reflection and
// encodes the text twice (the content's own MarshalJSON, then the result's
// encoder checking and compacting what that returned); here each part is
// encoded once, straight into dst. Any other result goes to the SDK. The
// output is the SDK's byte for byte (compact, HTML-escaped), which
// FuzzAppendResult checks.
func appendResult(dst []byte, res *mcp.CallToolResult) ([]byte, error) {
	if len(res.Content) != 1 || res.Meta != nil || res.InputRequests != nil || res.RequestState != "" {
		return appendMarshaled(dst, res)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok || tc.Meta != nil || tc.Annotations != nil {
		return appendMarshaled(dst, res)
	}
	var structured json.RawMessage
	switch sc := res.StructuredContent.(type) {
	case nil:
	case json.RawMessage:
		if sc == nil {
			return appendMarshaled(dst, res)
		}
		structured = sc
	default:
		return appendMarshaled(dst, res)
	}
	orig := len(dst)
	dst = slices.Grow(dst, resultSizeHint(res))
	dst = append(dst, `{"content":[{"type":"text","text":`...)
	dst = mapping.AppendJSONString(dst, tc.Text)
	dst = append(dst, "}]"...)
	if structured != nil {
		dst = append(dst, `,"structuredContent":`...)
		// As encoding/json writes a RawMessage: compacted, with <, >, &,
		// U+2028 and U+2029 escaped in its strings.
		var ok bool
		if dst, ok = mapping.AppendCompactJSON(dst, structured, true); !ok {
			return appendMarshaled(dst[:orig], res) // the SDK's error
		}
	}
	if res.IsError {
		dst = append(dst, `,"isError":true`...)
	}
	return append(dst, '}'), nil
}

// appendMarshaled appends the SDK's encoding of res to dst.
func appendMarshaled(dst []byte, res *mcp.CallToolResult) ([]byte, error) {
	b, err := res.MarshalJSON()
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// resultSizeHint is about the size appendResult writes for res: its text
// with room for escapes (a JSON text escapes each of its quotes), its
// structured content as it is, and the rest.
func resultSizeHint(res *mcp.CallToolResult) int {
	n := len(`{"content":[{"type":"text","text":""}],"structuredContent":,"isError":true}`)
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			n += len(tc.Text) + len(tc.Text)/4
		}
	}
	if raw, ok := res.StructuredContent.(json.RawMessage); ok {
		n += len(raw) + len(raw)/16
	}
	return n
}
