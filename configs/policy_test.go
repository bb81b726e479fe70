package configs

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadResilienceAndCacheDefaults(t *testing.T) {
	cfg, err := load(t, validUpstreams, nil, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	up := cfg.Upstreams["api"]
	got := []any{up.ConnectTimeout, up.Retries, up.RetryBackoff, up.BreakerFailures, up.BreakerOpenFor, up.MaxConcurrent, cfg.Cache, cfg.RateLimits}
	want := []any{DefaultConnectTimeout, DefaultRetries, DefaultRetryBackoff, DefaultBreakerFailures, DefaultBreakerOpenFor, DefaultMaxConcurrent,
		CacheSpec{MaxEntries: DefaultCacheMaxEntries, MaxBytes: DefaultCacheMaxBytes}, RateLimits{MaxKeys: DefaultRateMaxKeys}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestLoadPolicies(t *testing.T) {
	cfg, err := load(t, `
cache: { max_entries: 100, max_bytes: 1048576 }
rate_limits:
  caller: { requests: 60, per: 1m }
  client_ip: { requests: 100, burst: 20 }
  max_keys: 50
upstreams:
  api:
    url: http://api.internal
    connect_timeout: 2s
    retries: 0
    circuit_breaker: { disabled: true }
    max_concurrent: 8
tools:
  - { name: get, upstream: api, path: /g, cache: { ttl: 30s, scope: shared, bypass: true }, rate_limit: { requests: 5, scope: tool } }
  - { name: search, upstream: api, method: POST, path: /s, annotations: { read_only: true }, cache: { ttl: 1m } }
  - { name: plain, upstream: api, path: /p }
`, nil, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	up := cfg.Upstreams["api"]
	if up.ConnectTimeout != 2*time.Second || up.Retries != 0 || up.BreakerFailures != 0 || up.MaxConcurrent != 8 {
		t.Errorf("upstream = %+v", up)
	}
	want := map[string]ToolPolicy{
		"get":    {Cache: &ToolCache{TTL: 30 * time.Second, Shared: true, AllowBypass: true}, RateLimit: &Limit{Requests: 5, Per: time.Second, Burst: 5, PerTool: true}},
		"search": {Cache: &ToolCache{TTL: time.Minute}},
	}
	if diff := cmp.Diff(want, cfg.Policies); diff != "" {
		t.Errorf("Policies (-want +got):\n%s", diff)
	}
	wantLimits := RateLimits{
		Caller:   &Limit{Requests: 60, Per: time.Minute, Burst: 60},
		ClientIP: &Limit{Requests: 100, Per: time.Second, Burst: 20},
		MaxKeys:  50,
	}
	if diff := cmp.Diff(wantLimits, cfg.RateLimits); diff != "" {
		t.Errorf("RateLimits (-want +got):\n%s", diff)
	}
}

func TestLoadPolicyErrors(t *testing.T) {
	_, err := load(t, `
cache: { max_entries: -1, max_bytes: -5 }
rate_limits:
  caller: { requests: 0, scope: tool }
  max_keys: -1
upstreams:
  api:
    url: http://api.internal
    retries: 11
    retry_backoff: -1s
    connect_timeout: -1s
    circuit_breaker: { failures: -1, open_for: -1s }
    max_concurrent: -2
tools:
  - { name: post, upstream: api, method: POST, path: /p, cache: { ttl: 1m } }
  - { name: ttl, upstream: api, path: /t, cache: { scope: everyone } }
  - { name: rl, upstream: api, path: /r, rate_limit: { requests: 1, per: -1s, burst: -1, scope: planet } }
  - { name: idem, upstream: api, path: /i, idempotency_key: '"k"' }
`, nil, nil)
	want := []string{
		"upstreams.api.connect_timeout: must not be negative",
		"upstreams.api.retries: must be 0 to 10",
		"upstreams.api.retry_backoff: must not be negative",
		"upstreams.api.circuit_breaker.failures: must not be negative",
		"upstreams.api.circuit_breaker.open_for: must not be negative",
		"upstreams.api.max_concurrent: must not be negative",
		"cache.max_entries: must not be negative",
		"cache.max_bytes: must not be negative",
		"rate_limits.max_keys: must not be negative",
		"rate_limits.caller.requests: required: a positive number of calls per period",
		"rate_limits.caller.scope: only a tool's rate_limit has a scope",
		`tools[0] "post": cache: a POST tool changes things; only GET, HEAD or tools with annotations.read_only are cached`,
		`tools[1] "ttl": cache.ttl: required: a positive duration such as 30s`,
		`tools[1] "ttl": cache.scope: "everyone" is not user or shared`,
		`tools[2] "rl": rate_limit.per: must not be negative`,
		`tools[2] "rl": rate_limit.burst: must not be negative`,
		`tools[2] "rl": rate_limit.scope: "planet" is not caller or tool`,
		`tools[3] "idem": idempotency_key: a GET request is safe already; an Idempotency-Key is for POST, PATCH and the like`,
	}
	if diff := cmp.Diff(want, problems(err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestLoadRedis(t *testing.T) {
	cfg, err := load(t, validUpstreams+`
redis: { url: "redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0" }
rate_limits: { shared: true }
`, env{"REDIS_PASSWORD": "s3cret-redis"}, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.RedisURL != "redis://:s3cret-redis@127.0.0.1:6379/0" || !cfg.RateLimits.Shared {
		t.Errorf("RedisURL, Shared = %q, %v", cfg.RedisURL, cfg.RateLimits.Shared)
	}
	if got := cfg.Redact("dial redis://:s3cret-redis@…"); got != "dial redis://:[redacted]@…" {
		t.Errorf("the Redis password is not redacted: %q", got)
	}

	_, err = load(t, validUpstreams+`
redis: { url: "http://:pw-in-url@127.0.0.1" }
rate_limits: { shared: true }
`, nil, nil)
	if diff := cmp.Diff([]string{"redis.url: scheme must be redis or rediss"}, problems(err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	_, err = load(t, validUpstreams+`
rate_limits: { shared: true }
`, nil, nil)
	if diff := cmp.Diff([]string{"rate_limits.shared: needs the redis section (redis.url)"}, problems(err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
