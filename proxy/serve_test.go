package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api2mcp/api2mcp/configs"
)

const testSecret = "serve-test-secret-value"

// newTestServer loads yaml (with ${UPSTREAM} and ${KEY}) and builds a Server
// whose log goes to the returned buffer.
func newTestServer(t *testing.T, yaml, upstreamURL string) (*Server, *syncBuffer) {
	t.Helper()
	env := map[string]string{"UPSTREAM": upstreamURL, "KEY": testSecret}
	cfg, err := configs.Load("mcp.yaml", &configs.Options{
		Environ: func() []string { return nil },
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		ReadFile: func(string) ([]byte, error) { return []byte(yaml), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv, err := New(cfg, &Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return srv, logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const slowYAML = `
server: { shutdown_timeout: 5s, allowed_origins: ["https://app.example"] }
upstreams:
  api: { url: "${UPSTREAM}", headers: { X-Api-Key: "${KEY}" } }
tools:
  - { name: slow, upstream: api, path: /slow }
`

func postMCP(url, body string, header map[string]string) (*http.Response, string, error) {
	req, _ := http.NewRequest(http.MethodPost, url+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// TestGracefulShutdown: a call in flight when the server is told to stop
// finishes with its result; an open SSE stream does not hold the shutdown;
// readiness turns off; Serve returns; no secret reaches the log.
func TestGracefulShutdown(t *testing.T) {
	started := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"done":true}`)
	}))
	defer up.Close()
	srv, logs := newTestServer(t, slowYAML, up.URL)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	// An idle legacy SSE client.
	sseResp, err := http.Get(base + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer sseResp.Body.Close()
	line, _ := bufio.NewReader(sseResp.Body).ReadString('\n')
	if !strings.HasPrefix(line, "event: endpoint") {
		t.Fatalf("SSE stream starts with %q, want the endpoint event", line)
	}

	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		_, body, err := postMCP(base, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}`, nil)
		done <- result{body, err}
	}()
	<-started
	stop()
	r := <-done
	if r.err != nil || !strings.Contains(r.body, `"structuredContent":{"done":true}`) {
		t.Fatalf("in-flight call: %v %s", r.err, r.body)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	if srv.ready.Load() {
		t.Error("still ready after shutdown")
	}
	if strings.Contains(logs.String(), testSecret) {
		t.Errorf("the secret reached the log:\n%s", logs.String())
	}
	if !regexp.MustCompile(`msg=tool_call request_id=[0-9a-f]{24} caller="" tool=slow`).MatchString(logs.String()) {
		t.Errorf("no tool_call line in the log:\n%s", logs.String())
	}
}

func TestHTTPFrontDoor(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	defer up.Close()
	srv, _ := newTestServer(t, strings.Replace(slowYAML, "shutdown_timeout: 5s", "max_request_bytes: 512", 1), up.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	front := httptest.NewServer(srv.Handler(ctx))
	defer front.Close()
	list := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`

	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		header     map[string]string
		wantStatus int
		wantBody   string
		wantHeader map[string]string
	}{
		{name: "no origin", method: "POST", path: "/mcp", body: list, wantStatus: 200, wantBody: `"name":"slow"`},
		{name: "foreign origin", method: "POST", path: "/mcp", body: list, header: map[string]string{"Origin": "https://evil.example"}, wantStatus: 403, wantBody: "origin not allowed"},
		{name: "allowed origin", method: "POST", path: "/mcp", body: list, header: map[string]string{"Origin": "https://app.example"}, wantStatus: 200, wantHeader: map[string]string{"Access-Control-Allow-Origin": "https://app.example"}},
		{name: "preflight", method: "OPTIONS", path: "/mcp", header: map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}, wantStatus: 204, wantHeader: map[string]string{"Access-Control-Allow-Headers": "Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID"}},
		{name: "foreign preflight", method: "OPTIONS", path: "/mcp", header: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, wantStatus: 403},
		{name: "body too large", method: "POST", path: "/mcp", body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"pad":"` + strings.Repeat("x", 600) + `"}}`, wantStatus: 413, wantBody: "exceeds 512 bytes"},
		{name: "not JSON", method: "POST", path: "/mcp", body: `{"jsonrpc":`, wantStatus: 400, wantBody: `"code":-32700`},
		{name: "stateless GET", method: "GET", path: "/mcp", header: map[string]string{"Accept": "text/event-stream"}, wantStatus: 405},
		{name: "healthz", method: "GET", path: "/healthz", wantStatus: 200, wantBody: `"status":"ok"`},
		{name: "readyz", method: "GET", path: "/readyz", wantStatus: 200, wantBody: `"tools":1`},
		{name: "DNS rebinding", method: "POST", path: "/mcp", body: list, header: map[string]string{"Host": "attacker.example"}, wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, front.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for k, v := range tt.header {
				if k == "Host" {
					req.Host = v
					continue
				}
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, b)
			}
			if !strings.Contains(string(b), tt.wantBody) {
				t.Errorf("body %s does not contain %s", b, tt.wantBody)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
