package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMetrics scrapes /metrics after a scripted run and finds each series
// with the expected count.
func TestMetrics(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pets/404" {
			http.Error(w, "no such pet", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":1}`)
	}))
	defer up.Close()
	srv, _ := newTestServer(t, `
upstreams: { api: { url: "${UPSTREAM}", headers: { X-Api-Key: "${KEY}" } } }
tools:
  - name: get_pet
    upstream: api
    path: /pets/{id}
    input: { type: object, properties: { id: { type: integer } }, required: [id] }
  - { name: cached, upstream: api, path: /pets/1, cache: { ttl: 1m } }
  - { name: limited, upstream: api, path: /pets/1, rate_limit: { requests: 1, per: 1m } }
`, up.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	front := httptest.NewServer(srv.Handler(ctx))
	defer front.Close()
	for _, args := range []string{`{"id":1}`, `{"id":1}`, `{"id":404}`, `{"id":"x"}`} {
		if _, _, err := postMCP(front.URL, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_pet","arguments":`+args+`}}`, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"cached", "cached", "limited", "limited"} {
		if _, _, err := postMCP(front.URL, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"`+name+`"}}`, nil); err != nil {
			t.Fatal(err)
		}
	}
	srv.NoteReloadRejected()
	resp, err := http.Get(front.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`api2mcp_tool_calls_total{outcome="ok",tool="get_pet"} 2`,
		`api2mcp_tool_calls_total{outcome="upstream_status",tool="get_pet"} 1`,
		`api2mcp_tool_calls_total{outcome="bad_arguments",tool="get_pet"} 1`,
		`api2mcp_tool_call_duration_seconds_count{tool="get_pet"} 4`,
		`api2mcp_upstream_responses_total{code="200",upstream="api"} 4`,
		`api2mcp_upstream_responses_total{code="404",upstream="api"} 1`,
		`api2mcp_upstream_request_duration_seconds_count{upstream="api"} 5`,
		`api2mcp_config_reloads_total{result="rejected"} 1`,
		`api2mcp_tools 3`,
		`api2mcp_cache_hits_total 1`,
		`api2mcp_cache_misses_total 1`,
		`api2mcp_cache_entries 1`,
		`api2mcp_cache_evictions_total 0`,
		`api2mcp_rate_limited_total{scope="tool"} 1`,
		`api2mcp_tool_calls_total{outcome="cache_hit",tool="cached"} 1`,
		`api2mcp_sessions_active 0`,
		`api2mcp_build_info{goversion="go`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, testSecret) {
		t.Error("/metrics shows the upstream secret")
	}
}

// TestAuthFailureMetrics: the front door's rejections are counted by reason.
func TestAuthFailureMetrics(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	srv, _ := newTestServer(t, `
auth: { mode: api_key, api_keys: [{ name: ci, key: "${KEY}" }] }
upstreams: { api: { url: "${UPSTREAM}" } }
tools: [{ name: ping_api, upstream: api, path: /ping }]
`, up.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	front := httptest.NewServer(srv.Handler(ctx))
	defer front.Close()
	postMCP(front.URL, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil)
	postMCP(front.URL, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, map[string]string{"Authorization": "Bearer wrong-key-of-some-length"})
	resp, err := http.Get(front.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`api2mcp_auth_failures_total{reason="missing_token"} 1`, `api2mcp_auth_failures_total{reason=`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Count(string(body), "api2mcp_auth_failures_total{") < 2 {
		t.Errorf("want two failure reasons:\n%s", body)
	}
}
