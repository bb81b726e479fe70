package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const clientsYAML = `
server: { page_size: 2, stateful: %v }
upstreams:
  api: { url: "${UPSTREAM}", headers: { X-Api-Key: "${KEY}" } }
tools:
  - name: get_pet
    upstream: api
    path: /pets/{id}
    input: { type: object, properties: { id: { type: integer } }, required: [id] }
  - { name: list_pets, upstream: api, path: /pets }
  - { name: ping_api, upstream: api, path: /ping }
resources:
  - { name: catalog, uri: "pets://catalog", upstream: api, path: /pets }
prompts:
  - name: adopt
    arguments: [{ name: species, required: true }]
    messages: [{ text: '"Find me a " + args.species' }]
`

// TestGoSDKClient drives api2mcp with the official Go SDK client over every
// HTTP transport: paginated lists, a call, progress notifications, a
// resource and a prompt.
func TestGoSDKClient(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/pets/7":
			fmt.Fprint(w, `{"id":7,"name":"Rex"}`)
		default:
			fmt.Fprint(w, `[{"id":7}]`)
		}
	}))
	defer up.Close()
	for _, tt := range []struct {
		name     string
		stateful bool
		sse      bool
	}{
		{name: "streamable stateless"},
		{name: "streamable stateful", stateful: true},
		{name: "legacy SSE", sse: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newTestServer(t, fmt.Sprintf(clientsYAML, tt.stateful), up.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			front := httptest.NewServer(srv.Handler(ctx))
			defer front.Close()

			var mu sync.Mutex
			var progress []float64
			client := mcp.NewClient(&mcp.Implementation{Name: "go-sdk-test", Version: "1"}, &mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
					mu.Lock()
					progress = append(progress, r.Params.Progress)
					mu.Unlock()
				},
			})
			var transport mcp.Transport = &mcp.StreamableClientTransport{Endpoint: front.URL + "/mcp"}
			if tt.sse {
				transport = &mcp.SSEClientTransport{Endpoint: front.URL + "/sse"}
			}
			cs, err := client.Connect(ctx, transport, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()

			var names []string
			for tool, err := range cs.Tools(ctx, nil) { // three tools over two pages
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, tool.Name)
			}
			if strings.Join(names, ",") != "get_pet,list_pets,ping_api" {
				t.Errorf("tools %v", names)
			}
			first, err := cs.ListTools(ctx, nil)
			if err != nil || len(first.Tools) != 2 || first.NextCursor == "" {
				t.Errorf("first page: %d tools, cursor %q, %v; want 2 and a cursor", len(first.Tools), first.NextCursor, err)
			}

			params := &mcp.CallToolParams{Name: "get_pet", Arguments: map[string]any{"id": 7}}
			params.SetProgressToken("p1")
			res, err := cs.CallTool(ctx, params)
			if err != nil || res.IsError || !strings.Contains(fmt.Sprint(res.StructuredContent), "Rex") {
				t.Fatalf("call: %+v, %v", res, err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for {
				mu.Lock()
				n := len(progress)
				mu.Unlock()
				if n >= 3 || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			mu.Lock()
			if fmt.Sprint(progress) != "[0 50 100]" {
				t.Errorf("progress %v, want [0 50 100]", progress)
			}
			mu.Unlock()

			rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "pets://catalog"})
			if err != nil || len(rr.Contents) != 1 || rr.Contents[0].Text != `[{"id":7}]` {
				t.Errorf("read resource: %+v, %v", rr, err)
			}
			pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "adopt", Arguments: map[string]string{"species": "cat"}})
			if err != nil || len(pr.Messages) != 1 || pr.Messages[0].Content.(*mcp.TextContent).Text != "Find me a cat" {
				t.Errorf("prompt: %+v, %v", pr, err)
			}
			if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "adopt"}); err == nil || !strings.Contains(err.Error(), `argument "species" is required`) {
				t.Errorf("prompt without its argument: %v", err)
			}
		})
	}
}

// TestIdleStatelessClientsHoldNoGoroutine: a stateless client that made a
// call and keeps its connection open holds no goroutine of ours. What is
// counted: runtime.NumGoroutine before and after n keep-alive connections
// each make one tools/call (a cache hit, so no upstream connection is
// opened) and stay open. net/http keeps one goroutine per open connection
// (blocked reading the next request); anything of ours per client would
// add at least n more. The client side is raw TCP, without goroutines. The
// slack of 2 is for goroutines of earlier tests that may start meanwhile.
func TestIdleStatelessClientsHoldNoGoroutine(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":1}`)
	}))
	defer up.Close()
	srv, _ := newTestServer(t, `
upstreams: { api: { url: "${UPSTREAM}" } }
tools:
  - { name: get, upstream: api, path: /x, cache: { ttl: 1h } }
`, up.URL)
	front := httptest.NewServer(srv.Handler(t.Context()))
	defer front.Close()
	addr := strings.TrimPrefix(front.URL, "http://")
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get","arguments":{}}}`
	request := fmt.Sprintf("POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"+
		"Mcp-Protocol-Version: 2025-06-18\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	call := func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !strings.Contains(string(b), `"structuredContent"`) {
			t.Fatalf("call: %d %s %v", resp.StatusCode, b, err)
		}
	}
	call() // fills the cache, opens the upstream connection
	before := runtime.NumGoroutine()
	const n = 50
	for range n {
		call()
	}
	// The response is written after the handler's goroutines (net/http's
	// background read among them) have ended: nothing is left to settle.
	grown := runtime.NumGoroutine() - before
	t.Logf("%d idle clients: %d more goroutines", n, grown)
	if grown > n+2 {
		t.Errorf("%d idle keep-alive clients added %d goroutines, want at most %d (net/http's, one per connection)", n, grown, n)
	}
}
