package proxy

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"

	"github.com/api2mcp/api2mcp/configs"
)

// limiter is a set of token buckets with the same limit, one per key (a
// caller, a client address, or "" for a whole tool). At most maxKeys
// buckets are kept; the least recently used is forgotten first, which can
// only be generous (a forgotten key starts with a full bucket).
type limiter struct {
	name  string // names the buckets in Redis: a tool, "caller" or "client_ip"
	limit configs.Limit
	every rate.Limit
	now   func() time.Time
	// shared, when set, holds the buckets for every replica; the local
	// ones apply only while it cannot be reached.
	shared *redisBuckets

	mu      sync.Mutex
	buckets *simplelru.LRU[string, *rate.Limiter]
}

func newLimiter(name string, l *configs.Limit, maxKeys int, now func() time.Time, shared *redisBuckets) *limiter {
	if l == nil {
		return nil
	}
	lim := &limiter{name: name, limit: *l, every: rate.Limit(float64(l.Requests) / l.Per.Seconds()), now: now, shared: shared}
	// NewLRU fails only for a size below 1, which configs refuses.
	lim.buckets, _ = simplelru.NewLRU[string, *rate.Limiter](max(maxKeys, 1), nil)
	return lim
}

// allow takes a token for key. When none is left it takes nothing and
// returns how long until one is.
func (l *limiter) allow(ctx context.Context, key string) (wait time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	if l.shared != nil {
		if wait, ok, err := l.shared.allow(ctx, l.name, key, l.limit); err == nil {
			return wait, ok
		}
	}
	now := l.now()
	l.mu.Lock()
	b, found := l.buckets.Get(key)
	if !found {
		b = rate.NewLimiter(l.every, l.limit.Burst)
		l.buckets.Add(key, b)
	}
	l.mu.Unlock()
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return l.limit.Per, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// describe says what the limit is, for the message an agent reads.
func (l *limiter) describe() string {
	unit := "calls"
	if l.limit.Requests == 1 {
		unit = "call"
	}
	return fmt.Sprintf("%d %s per %s", l.limit.Requests, unit, l.limit.Per)
}

// retrySeconds rounds a wait up to whole seconds, at least one.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// limitClients answers 429 with Retry-After to a client address that sends
// requests faster than rate_limits.client_ip allows, before the body is read
// or any MCP decoding. The address is the connection's peer: behind a load
// balancer that is the balancer, so limit there or not at all (forwarded
// headers can be forged and are not trusted).
func (s *Server) limitClients(h http.Handler) http.Handler {
	if s.clientLimit == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		if wait, ok := s.clientLimit.allow(r.Context(), host); !ok {
			s.metrics.rateLimited.WithLabelValues("client_ip").Inc()
			secs := retrySeconds(wait)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeRPCError(w, http.StatusTooManyRequests, -32000, fmt.Sprintf("too many requests from this address (%s); retry after %d seconds", s.clientLimit.describe(), secs))
			return
		}
		h.ServeHTTP(w, r)
	})
}
