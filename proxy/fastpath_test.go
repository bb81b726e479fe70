package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFastPathMatchesSDK sends the same requests through the fast path and
// through the SDK alone and compares status, content type and body byte for
// byte; requests the fast path must leave to the SDK are in the list too.
func TestFastPathMatchesSDK(t *testing.T) {
	var cachedCalls atomic.Int64 // of /pets/7, called only by get_pet_cached
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pets/7":
			cachedCalls.Add(1)
			fallthrough
		case "/pets/1":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":1,"name":"Rex <&>","n":12345678901234567890}`)
		case "/pets/5":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":5,"note":"key %s"}`, testSecret)
		case "/pets/2":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("\x89PNG\r\n"))
		default:
			http.Error(w, `{"error":"nope"}`, http.StatusNotFound)
		}
	}))
	defer up.Close()
	const yaml = `
upstreams: { api: { url: "${UPSTREAM}", headers: { X-Api-Key: "${KEY}" } } }
tools:
  - name: get_pet
    upstream: api
    path: /pets/{id}
    input: { type: object, properties: { id: { type: integer } }, required: [id] }
  - name: get_pet_cached
    upstream: api
    path: /pets/{id}
    input: { type: object, properties: { id: { type: integer } }, required: [id] }
    cache: { ttl: 1h }
`
	serve := func(fast bool) string {
		srv, _ := newTestServer(t, yaml, up.URL)
		srv.noFastPath = !fast
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		front := httptest.NewServer(srv.Handler(ctx))
		t.Cleanup(front.Close)
		return front.URL
	}
	fast, sdk := serve(true), serve(false)
	v := map[string]string{"MCP-Protocol-Version": "2025-11-25"}
	for _, tt := range []struct {
		name   string
		body   string
		header map[string]string
	}{
		{"json result", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_pet","arguments":{"id":1}}}`, v},
		{"string id", `{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"name":"get_pet","arguments":{"id":1}}}`, v},
		{"image result", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_pet","arguments":{"id":2}}}`, v},
		{"upstream 404", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_pet","arguments":{"id":3}}}`, v},
		{"bad arguments", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_pet","arguments":{"id":"x","y":1}}}`, v},
		{"no arguments", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get_pet"}}`, v},
		{"white space, members reordered", "{ \"params\": {\"arguments\": {\"id\": 1}, \"name\": \"get_pet\"},\n \"method\": \"tools/call\", \"id\": 12, \"jsonrpc\": \"2.0\" }", v},
		// Stored, then answered from the cache as stored (encoded).
		{"cached, stored", `{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"get_pet_cached","arguments":{"id":7}}}`, v},
		{"cached, hit", `{"jsonrpc":"2.0","id":"h","method":"tools/call","params":{"name":"get_pet_cached","arguments":{"id":7}}}`, v},
		{"cached, hit again", `{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"get_pet_cached","arguments":{"id":7}}}`, v},
		{"cached secret, stored", `{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"name":"get_pet_cached","arguments":{"id":5}}}`, v},
		{"cached secret, hit", `{"jsonrpc":"2.0","id":19,"method":"tools/call","params":{"name":"get_pet_cached","arguments":{"id":5}}}`, v},
		{"cached image, stored", `{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"get_pet_cached","arguments":{"id":2}}}`, v},
		{"cached image, hit", `{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":"get_pet_cached","arguments":{"id":2}}}`, v},
		{"cached, upstream 404 (not stored)", `{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"get_pet_cached","arguments":{"id":3}}}`, v},
		{"cached, 404 again", `{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"get_pet_cached","arguments":{"id":3}}}`, v},
		{"2025-03-26", `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"get_pet","arguments":{"id":1}}}`, map[string]string{"MCP-Protocol-Version": "2025-03-26"}},
		// Left to the SDK:
		{"unknown tool", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"nope"}}`, v},
		{"progress", `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"get_pet","arguments":{"id":1},"_meta":{"progressToken":"p"}}}`, v},
		{"notification", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"get_pet","arguments":{"id":1}}}`, v},
		{"escaped method", `{"jsonrpc":"2.0","id":14,"method":"tools\/call","params":{"name":"get_pet","arguments":{"id":1}}}`, v},
		{"member name case", `{"jsonrpc":"2.0","id":15,"method":"tools/call","Params":{"name":"get_pet","arguments":{"id":1}}}`, v},
		{"tools/list", `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`, v},
		{"no version header", `{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"get_pet","arguments":{"id":1}}}`, nil},
		{"2026-07-28", `{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"get_pet","arguments":{"id":1}}}`, map[string]string{"MCP-Protocol-Version": "2026-07-28"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			get := func(base string) string {
				resp, body, err := postMCP(base, tt.body, tt.header)
				if err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("%d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			want, got := get(sdk), get(fast)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("fast path differs from the SDK (-sdk +fast):\n%s", diff)
			}
			if strings.Contains(got, testSecret) {
				t.Errorf("the secret reached the client: %s", got)
			}
		})
	}
	// One upstream call each, by the fast path and by the SDK: the other
	// calls of get_pet_cached were hits.
	if n := cachedCalls.Load(); n != 2 {
		t.Errorf("get_pet_cached called the upstream %d times, want 2", n)
	}
}

// TestPlainRequestID checks the request id check against the pattern it
// implements.
func TestPlainRequestID(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	for _, id := range []string{"", "a", "req-1.2:3_x", "a b", "a\n", "é", "a/b", "<x>", strings.Repeat("a", 128), strings.Repeat("a", 129), "A-Z_09"} {
		if got, want := plainRequestID(id), re.MatchString(id); got != want {
			t.Errorf("plainRequestID(%q) = %v, want %v", id, got, want)
		}
	}
}

// TestNewRequestMatchesStd compares the upstream request made from a parsed
// URL with the one http.NewRequest makes from the URL's text.
func TestNewRequestMatchesStd(t *testing.T) {
	for _, raw := range []string{
		"http://127.0.0.1:8080/api/v3/pets/1",
		"http://example.com:/a%2Fb/c%20d?x=1&y=%3D",
		"https://[::1]:443/p/%E2%82%AC?q",
		"http://example.com",
		"http://user:pw@example.com/p;x?a=b#frag",
	} {
		for _, body := range [][]byte{nil, {}, []byte(`{"a":1}`)} {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			var rd io.Reader
			if body != nil {
				rd = bytes.NewReader(body)
			}
			want, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u.String(), rd)
			if err != nil {
				t.Fatal(err)
			}
			got := newRequest(t.Context(), http.MethodPost, u, body)
			// What reaches the wire and picks the connection: an empty
			// port ("example.com:") may stay in URL.Host, as Port() is "".
			type view struct {
				Scheme, Hostname, Port   string
				RequestURI, Host, Method string
				ContentLength            int64
				NoBody, HasGetBody       bool
			}
			see := func(r *http.Request) view {
				return view{r.URL.Scheme, r.URL.Hostname(), r.URL.Port(), r.URL.RequestURI(), r.Host, r.Method, r.ContentLength, r.Body == http.NoBody || r.Body == nil, r.GetBody != nil}
			}
			if diff := cmp.Diff(see(want), see(got)); diff != "" {
				t.Errorf("%s, body %q (-NewRequest +newRequest):\n%s", raw, body, diff)
			}
			if got.Context() != t.Context() {
				t.Error("the request lacks its context")
			}
		}
	}
}
