package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestProtocolVersions initializes with every protocol version current
// clients speak and checks that the server answers with that version and
// serves tools/list under it; 2026-07-28 clients discover the server with
// server/discover instead of initialize.
func TestProtocolVersions(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	for _, stateful := range []bool{false, true} {
		srv, _ := newTestServer(t, fmt.Sprintf("server: { stateful: %v }\n", stateful)+`
upstreams: { api: { url: "${UPSTREAM}" } }
tools: [{ name: ping_api, upstream: api, path: /ping }]
`, up.URL)
		ctx, cancel := context.WithCancel(context.Background())
		front := httptest.NewServer(srv.Handler(ctx))
		for _, version := range []string{"2025-03-26", "2025-06-18", "2025-11-25"} {
			t.Run(fmt.Sprintf("stateful=%v/%s", stateful, version), func(t *testing.T) {
				init := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, version)
				resp, body, err := postMCP(front.URL, init, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(body, `"protocolVersion":"`+version+`"`) {
					t.Fatalf("initialize answered %s", body)
				}
				header := map[string]string{"MCP-Protocol-Version": version}
				if id := resp.Header.Get("Mcp-Session-Id"); stateful != (id != "") {
					t.Errorf("Mcp-Session-Id %q in stateful=%v", id, stateful)
				} else if id != "" {
					header["Mcp-Session-Id"] = id
					postMCP(front.URL, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, header)
				}
				_, body, err = postMCP(front.URL, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, header)
				if err != nil || !strings.Contains(body, `"name":"ping_api"`) {
					t.Errorf("tools/list under %s: %s %v", version, body, err)
				}
			})
		}
		t.Run(fmt.Sprintf("stateful=%v/2026-07-28", stateful), func(t *testing.T) {
			header := map[string]string{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}
			_, body, err := postMCP(front.URL, `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}}}}`, header)
			if err != nil {
				t.Fatal(err)
			}
			// Stateful serving answers as an event stream and offers the
			// session-based versions; stateless serving offers 2026-07-28.
			data := body
			if i := strings.Index(body, "data: "); i >= 0 {
				data = strings.TrimSpace(strings.SplitN(body[i+6:], "\n", 2)[0])
			}
			var res struct {
				Result struct {
					SupportedVersions []string `json:"supportedVersions"`
				} `json:"result"`
			}
			if err := json.Unmarshal([]byte(data), &res); err != nil {
				t.Fatalf("server/discover answered %s: %v", body, err)
			}
			want := "2025-11-25"
			if !stateful {
				want = "2026-07-28"
			}
			if !slices.Contains(res.Result.SupportedVersions, want) {
				t.Errorf("server/discover offers %v, want %s among them", res.Result.SupportedVersions, want)
			}
		})
		front.Close()
		cancel()
	}
}

// TestHostsAndSessions: a reverse proxy on this machine forwards public_url's
// host (accepted), a rebound name is refused, and stateful serving caps its
// sessions.
func TestHostsAndSessions(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	srv, _ := newTestServer(t, `
server: { stateful: true, max_sessions: 1, public_url: "https://mcp.example.com", allowed_hosts: ["gateway.internal:8443"] }
upstreams: { api: { url: "${UPSTREAM}" } }
tools: [{ name: ping_api, upstream: api, path: /ping }]
`, up.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	front := httptest.NewServer(srv.Handler(ctx))
	defer front.Close()
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	for _, tt := range []struct {
		host string
		want int
	}{
		{"evil.example", http.StatusForbidden},
		{"mcp.example.com", http.StatusOK},
		{"gateway.internal:8443", http.StatusServiceUnavailable}, // allowed, but the one session is taken
	} {
		req, _ := http.NewRequest(http.MethodPost, front.URL+"/mcp", strings.NewReader(init))
		req.Host = tt.host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("Host %s: HTTP %d, want %d", tt.host, resp.StatusCode, tt.want)
		}
	}
}
