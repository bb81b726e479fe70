// Package proxy is the running server: the MCP server and its transports
// (Streamable HTTP at /mcp, legacy HTTP+SSE at /sse, stdio), the HTTP mux and
// its middleware, the tool handler and the upstream clients.
//
// The walk of one tools/call: the HTTP entry and origin check (this package),
// the MCP server (the official Go SDK), the tool handler (this package), the
// arguments validated and the request built (package mapping), the upstream
// call with its credentials (this package), the response shaped (package
// mapping), the result returned.
package proxy
