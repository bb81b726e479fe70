// Package proxy is the running server: the MCP server and its transports
// (Streamable HTTP at /mcp, legacy HTTP+SSE at /sse, stdio), the HTTP mux and
// its middleware, the tool handler, the response cache, rate limits and the
// upstream clients with their resilience decorators.
//
// The walk of one tools/call: the HTTP entry, the client-address rate limit
// (429 before the body is read), the origin and body checks (http.go,
// ratelimit.go); the MCP server (the official Go SDK); the tool handler
// (server.go): the tool's and the caller's rate limits, the arguments
// validated and the request built (package mapping), the cache policy and
// lookup, with identical misses collapsed into one call (cache.go); the
// upstream call through retry → circuit breaker → concurrency cap →
// connection pool (resilience.go, upstream.go); the response shaped
// (package mapping), stored when the policy allows, and returned.
package proxy
