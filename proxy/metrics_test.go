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
		`api2mcp_upstream_responses_total{code="200",upstream="api"} 2`,
		`api2mcp_upstream_responses_total{code="404",upstream="api"} 1`,
		`api2mcp_upstream_request_duration_seconds_count{upstream="api"} 3`,
		`api2mcp_config_reloads_total{result="rejected"} 1`,
		`api2mcp_tools 1`,
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
