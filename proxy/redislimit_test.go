package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/api2mcp/api2mcp/internal/redistest"
)

// startRedis runs a redis-server for the test (see redistest.Start).
func startRedis(t *testing.T) string { return redistest.Start(t) }

const sharedLimitsYAML = `
redis: { url: "%s" }
rate_limits:
  shared: true
  caller: { requests: 5, per: 1h }
upstreams:
  api: { url: "${UPSTREAM}" }
tools:
  - { name: t, upstream: api, path: /a, rate_limit: { requests: 3, per: 1h, scope: tool } }
`

func TestSharedRateLimitsAcrossReplicas(t *testing.T) {
	addr := startRedis(t)
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	yaml := fmt.Sprintf(sharedLimitsYAML, "redis://:redis-test-password@"+addr+"/0")
	a, logsA := newTestServer(t, yaml, up.URL)
	b, _ := newTestServer(t, yaml, up.URL)
	checkLeaks(t, a, up)
	t.Cleanup(b.Close)
	ca, cb := session(t, a), session(t, b)
	ok, limited := 0, 0
	for i := range 6 {
		cs := ca
		if i%2 == 1 {
			cs = cb
		}
		text, isErr := callText(t, context.Background(), cs, "t", `{}`)
		switch {
		case !isErr:
			ok++
		case strings.Contains(text, "rate limit exceeded (3 calls per 1h0m0s for all callers); retry after"):
			limited++
		default:
			t.Errorf("call %d: %q", i, text)
		}
	}
	if ok != 3 || limited != 3 || up.calls.Load() != 3 {
		t.Errorf("6 calls over two replicas: %d ok, %d limited, %d upstream calls; want 3, 3, 3", ok, limited, up.calls.Load())
	}
	if strings.Contains(logsA.String(), "redis_unavailable") {
		t.Errorf("redis reported unavailable:\n%s", logsA.String())
	}
}

func TestSharedRateLimitsFallBackWhenRedisIsDown(t *testing.T) {
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	const password = "hunter2-redis-password"
	yaml := fmt.Sprintf(sharedLimitsYAML, "redis://:"+password+"@"+closedAddr(t)+"/0")
	srv, logs := newTestServer(t, yaml, up.URL)
	checkLeaks(t, srv, up)
	cs := session(t, srv)
	var texts []string
	for range 4 {
		text, _ := callText(t, context.Background(), cs, "t", `{}`)
		texts = append(texts, text)
	}
	// The replica's own bucket (3 per hour) applies.
	if up.calls.Load() != 3 || !strings.Contains(texts[3], "rate limit exceeded") {
		t.Errorf("with Redis down: %d upstream calls, last result %q; want 3 and a limit", up.calls.Load(), texts[3])
	}
	log := logs.String()
	if strings.Count(log, "redis_unavailable") != 1 {
		t.Errorf("want one redis_unavailable warning (then a pause), got log:\n%s", log)
	}
	if strings.Contains(log+strings.Join(texts, ""), password) {
		t.Error("the Redis password appears in a log or a result")
	}
}

// closedAddr is a 127.0.0.1 address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
