// Package proxy is the running server: the MCP server and its transports
// (Streamable HTTP at /mcp, legacy HTTP+SSE at /sse, stdio), the HTTP mux and
// its middleware, the tool handler, the response cache, rate limits and the
// upstream clients with their resilience decorators.
//
// The walk of one tools/call: the HTTP entry with its request id, the
// client-address rate limit (429 before the body is read), the Host, Origin
// and body checks (http.go, ratelimit.go); the front door (package authn:
// who is calling; per-tool scopes checked here, auth.go); the stateless
// fast path or the MCP server (the official Go SDK, which carries the
// caller's identity as TokenInfo); the tool handler (server.go): the tool's
// and the caller's rate limits, the arguments validated and the request
// built (package mapping), the cache policy and lookup, with identical
// misses collapsed into one call (cache.go); the upstream call through
// retry → circuit breaker → concurrency cap → connection pool
// (resilience.go, upstream.go); the response shaped (package mapping),
// stored when the policy allows, and returned.
package proxy
