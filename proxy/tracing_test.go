package proxy

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestTracing runs a tool call with OTLP export pointed at a local
// collector: the call is a server span continuing the client's traceparent,
// the upstream request its client child, and the upstream receives that
// child's traceparent.
func TestTracing(t *testing.T) {
	var mu sync.Mutex
	var spans []*tracepb.Span
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Errorf("collector: %v", err)
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Write(b)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_SDK_DISABLED", "")

	var upstreamParent string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamParent = r.Header.Get("Traceparent")
		fmt.Fprint(w, "ok")
	}))
	defer up.Close()
	srv, _ := newTestServer(t, `
upstreams: { api: { url: "${UPSTREAM}" } }
tools: [{ name: ping_api, upstream: api, path: /ping }]
`, up.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	front := httptest.NewServer(srv.Handler(ctx))
	defer front.Close()
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	if _, _, err := postMCP(front.URL, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping_api"}}`,
		map[string]string{"Traceparent": "00-" + clientTrace + "-00f067aa0ba902b7-01"}); err != nil {
		t.Fatal(err)
	}
	srv.Close() // flushes the spans

	mu.Lock()
	defer mu.Unlock()
	byName := map[string]*tracepb.Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	call, upstream := byName["tools/call ping_api"], byName["GET api"]
	if call == nil || upstream == nil {
		t.Fatalf("spans %v, want tools/call ping_api and GET api", keys(byName))
	}
	if got := hex.EncodeToString(call.TraceId); got != clientTrace {
		t.Errorf("the call's trace %s does not continue the client's %s", got, clientTrace)
	}
	if hex.EncodeToString(call.ParentSpanId) != "00f067aa0ba902b7" {
		t.Errorf("the call's parent %x, want the client's span", call.ParentSpanId)
	}
	if string(upstream.ParentSpanId) != string(call.SpanId) || call.Kind != tracepb.Span_SPAN_KIND_SERVER || upstream.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("the upstream span is not the call's client child: %+v / %+v", upstream, call)
	}
	if want := "00-" + clientTrace + "-" + hex.EncodeToString(upstream.SpanId) + "-01"; upstreamParent != want {
		t.Errorf("the upstream got traceparent %q, want %q", upstreamParent, want)
	}
}

func keys(m map[string]*tracepb.Span) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return strings.Join(out, ", ")
}

// TestTracingOffCarriesContext: with tracing off, a client's traceparent
// still reaches the upstream (the trace continues through api2mcp), and a
// call without one sends none.
func TestTracingOffCarriesContext(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	var mu sync.Mutex
	var got []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Traceparent"))
		mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	defer up.Close()
	srv, _ := newTestServer(t, `
upstreams: { api: { url: "${UPSTREAM}" } }
tools: [{ name: ping_api, upstream: api, path: /ping }]
`, up.URL)
	if srv.tracing.enabled {
		t.Fatal("tracing is on")
	}
	front := httptest.NewServer(srv.Handler(t.Context()))
	defer front.Close()
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, h := range []map[string]string{{"Traceparent": parent}, nil} {
		h2 := map[string]string{"MCP-Protocol-Version": "2025-11-25"}
		for k, v := range h {
			h2[k] = v
		}
		if _, _, err := postMCP(front.URL, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping_api"}}`, h2); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != parent || got[1] != "" {
		t.Errorf("upstream traceparents %q, want [%q \"\"]", got, parent)
	}
}
