package proxy

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the Prometheus series the server exports at /metrics. Label
// values are bounded: tool and upstream names come from the config, outcomes
// and reasons from fixed lists, status codes from HTTP.
type metrics struct {
	reg            *prometheus.Registry
	toolCalls      *prometheus.CounterVec   // tool, outcome
	toolDuration   *prometheus.HistogramVec // tool
	upstreamTime   *prometheus.HistogramVec // upstream
	upstreamStatus *prometheus.CounterVec   // upstream, code
	reloads        *prometheus.CounterVec   // result
	rateLimited    *prometheus.CounterVec   // scope
	authFailures   *prometheus.CounterVec   // reason
	authEvents     *prometheus.CounterVec   // event
}

func newMetrics(s *Server, version string) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api2mcp_tool_calls_total",
			Help: "Tool calls by tool and outcome (ok, bad_arguments, mapping_error, upstream_error, upstream_status, shaping_error).",
		}, []string{"tool", "outcome"}),
		toolDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "api2mcp_tool_call_duration_seconds",
			Help:    "Time from a tools/call reaching the tool handler to its result, by tool.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14), // 0.5 ms to ~75 s
		}, []string{"tool"}),
		upstreamTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "api2mcp_upstream_request_duration_seconds",
			Help:    "Time of upstream HTTP requests, from sending to the last byte read, by upstream.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}, []string{"upstream"}),
		upstreamStatus: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api2mcp_upstream_responses_total",
			Help: "Upstream responses by upstream and HTTP status code.",
		}, []string{"upstream", "code"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api2mcp_config_reloads_total",
			Help: "Config reloads by result (ok, rejected).",
		}, []string{"result"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api2mcp_rate_limited_total",
			Help: "Requests and calls refused by a rate limit, by scope (client_ip: HTTP 429; caller, tool: isError results).",
		}, []string{"scope"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api2mcp_auth_failures_total",
			Help: "Requests the front door rejected, by reason.",
		}, []string{"reason"}),
		authEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api2mcp_auth_server_events_total",
			Help: "What the built-in authorization server did, by event (client_registered, login, login_refused, consent_denied, code_redeemed, token_refreshed, code_replay, refresh_reuse, revoked).",
		}, []string{"event"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "api2mcp_build_info",
		Help: "The running binary: always 1, with its version and Go version as labels.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	sessions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "api2mcp_sessions_active",
		Help: "MCP sessions open now (stateful Streamable HTTP, SSE and stdio; stateless requests hold none).",
	}, func() float64 {
		n := 0
		for range s.mcp.Sessions() {
			n++
		}
		return float64(n)
	})
	tools := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "api2mcp_tools",
		Help: "Tools the current config declares.",
	}, func() float64 { return float64(len(s.state.Load().tools)) })
	cacheCounter := func(name, help string, read func(*responseCache) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			return float64(read(s.cache))
		})
	}
	cacheGauge := func(name, help string, read func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, read)
	}
	reg.MustRegister(
		cacheCounter("api2mcp_cache_hits_total", "Tool calls answered from the response cache.", func(c *responseCache) uint64 { return c.hits.Load() }),
		cacheCounter("api2mcp_cache_misses_total", "Cacheable tool calls the cache could not answer.", func(c *responseCache) uint64 { return c.misses.Load() }),
		cacheCounter("api2mcp_cache_evictions_total", "Cached results evicted to stay within max_entries and max_bytes.", func(c *responseCache) uint64 { return c.evictions.Load() }),
		cacheGauge("api2mcp_cache_entries", "Results in the response cache.", func() float64 { n, _ := s.cache.stats(); return float64(n) }),
		cacheGauge("api2mcp_cache_bytes", "Bytes the response cache holds, as it counts them against max_bytes.", func() float64 { _, b := s.cache.stats(); return float64(b) }),
		m.rateLimited, m.authFailures, m.authEvents)
	reg.MustRegister(m.toolCalls, m.toolDuration, m.upstreamTime, m.upstreamStatus, m.reloads, build, sessions, tools,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) toolCall(tool, outcome string, d time.Duration) {
	m.toolCalls.WithLabelValues(tool, outcome).Inc()
	m.toolDuration.WithLabelValues(tool).Observe(d.Seconds())
}

func (m *metrics) upstream(name string, status int, d time.Duration) {
	m.upstreamTime.WithLabelValues(name).Observe(d.Seconds())
	if status > 0 {
		m.upstreamStatus.WithLabelValues(name, strconv.Itoa(status)).Inc()
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// NoteReloadRejected counts a config reload that was refused because the
// new config did not load.
func (s *Server) NoteReloadRejected() { s.metrics.reloads.WithLabelValues("rejected").Inc() }
