package proxy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestCancellationReachesUpstream: when the client gives up on a call (it
// cancels, so the Go SDK client sends notifications/cancelled or drops the
// request), the upstream request is cancelled too.
func TestCancellationOnEveryTransport(t *testing.T) {
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
			started := make(chan struct{}, 1)
			gone := make(chan struct{}, 1)
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				started <- struct{}{}
				select {
				case <-r.Context().Done():
					gone <- struct{}{}
				case <-time.After(10 * time.Second):
				}
			}))
			defer up.Close()
			srv, _ := newTestServer(t, fmt.Sprintf(`
server: { stateful: %v }
upstreams: { api: { url: "${UPSTREAM}", timeout: 20s } }
tools: [{ name: slow, upstream: api, path: /slow }]
`, tt.stateful), up.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			front := httptest.NewServer(srv.Handler(ctx))
			defer front.Close()
			var transport mcp.Transport = &mcp.StreamableClientTransport{Endpoint: front.URL + "/mcp"}
			if tt.sse {
				transport = &mcp.SSEClientTransport{Endpoint: front.URL + "/sse"}
			}
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, transport, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			callCtx, cancelCall := context.WithCancel(ctx)
			errc := make(chan error, 1)
			go func() {
				_, err := cs.CallTool(callCtx, &mcp.CallToolParams{Name: "slow"})
				errc <- err
			}()
			<-started
			cancelCall()
			select {
			case <-gone:
			case <-time.After(5 * time.Second):
				t.Fatal("the upstream request was not cancelled within 5s of the client cancelling")
			}
			if err := <-errc; err == nil {
				t.Error("the cancelled call returned no error")
			}
		})
	}
}
