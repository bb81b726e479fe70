// Package proxy is the running server: the MCP server and its transports
// (Streamable HTTP at /mcp, legacy HTTP+SSE at /sse, stdio), the HTTP mux and
// its middleware, the tool handler and the upstream clients.
//
// The walk of one tools/call: the HTTP entry and origin check (this package),
// the front door (package authn: who is calling, per-tool scopes checked
// here), the MCP server (the official Go SDK, which carries the caller's
// identity as TokenInfo), the tool handler (this package), the
// arguments validated and the request built (package mapping), the upstream
// call with its credentials (this package), the response shaped (package
// mapping), the result returned.
package proxy
