package proxy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/api2mcp/api2mcp/configs"
)

// TestReload: a new config swaps tools and upstreams; a call in flight
// finishes on the old ones; a connected client hears list_changed and sees
// the new tool set; unchanged tools are not re-announced.
func TestReload(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	oldUp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		fmt.Fprint(w, "old upstream")
	}))
	defer oldUp.Close()
	newUp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "new upstream")
	}))
	defer newUp.Close()

	const before = `
server: { stateful: true }
upstreams: { api: { url: "${UPSTREAM}" } }
tools:
  - { name: keep, description: unchanged, upstream: api, path: /keep }
  - { name: slow, upstream: api, path: /slow }
  - { name: gone, upstream: api, path: /gone }
`
	srv, _ := newTestServer(t, before, oldUp.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	front := httptest.NewServer(srv.Handler(ctx))
	defer front.Close()

	var changes atomic.Int32
	client := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changes.Add(1) },
	})
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: front.URL + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	inflight := make(chan string, 1)
	go func() {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow"})
		if err != nil {
			inflight <- err.Error()
			return
		}
		inflight <- res.Content[0].(*mcp.TextContent).Text
	}()
	<-started

	after := strings.NewReplacer("/gone }", "/added }", "name: gone", "name: added").Replace(before)
	cfg, err := configs.Load("mcp.yaml", &configs.Options{
		Environ:   func() []string { return nil },
		LookupEnv: func(string) (string, bool) { return newUp.URL, true },
		ReadFile:  func(string) ([]byte, error) { return []byte(after), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	warnings, err := srv.Reload(cfg)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Reload: %v %v", warnings, err)
	}
	close(release)
	if got := <-inflight; got != "old upstream" {
		t.Errorf("the call in flight answered %q, want the old upstream's answer", got)
	}

	deadline := time.Now().Add(3 * time.Second)
	for changes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if changes.Load() == 0 {
		t.Error("no notifications/tools/list_changed after the reload")
	}
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	if strings.Join(names, ",") != "added,keep,slow" {
		t.Errorf("tools after the reload: %v", names)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "keep"})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "new upstream" {
		t.Errorf("an unchanged tool after the reload: %+v %v (want the new upstream)", res, err)
	}
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "gone"}); err == nil {
		t.Errorf("a removed tool still answers: %+v", res)
	}

	// Server-level settings cannot change without a restart: say so.
	cfg2, _ := configs.Load("mcp.yaml", &configs.Options{
		Environ:   func() []string { return nil },
		LookupEnv: func(string) (string, bool) { return newUp.URL, true },
		ReadFile: func(string) ([]byte, error) {
			return []byte(strings.Replace(after, "stateful: true", "stateful: true, listen: 127.0.0.1:9999", 1)), nil
		},
	})
	warnings, err = srv.Reload(cfg2)
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "server.listen changed") {
		t.Errorf("warnings %v, %v; want one about server.listen", warnings, err)
	}
}
