// Command api2mcp-bench measures api2mcp under load on this machine: it
// starts a local upstream and the proxy on 127.0.0.1, drives tools/call over
// Streamable HTTP with concurrent clients for a bounded time and count, and
// prints calls/s, p50/p99 latencies, CPU time per call (of the whole
// process: load generator, upstream and proxy) and RSS for the upstream
// called directly, the same POST answered at once (the floor of a
// tools/call), a relay that does no work (the floor of two hops), proxied,
// proxied behind the OAuth front door with an RS256
// JWT from a local issuer, proxied with cache hits, and a workload with
// repeats; then the ratios against the direct call, the memory of a cache
// filled to its bounds, of idle stateless clients (keep-alive connections)
// and of idle stateful sessions (10,000 by default). Every figure is measured in the same run, so
// ratios between them are what to compare across machines.
//
//	go run ./cmd/api2mcp-bench -c 16 -d 3s
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
