package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/api2mcp/api2mcp/authn/authntest"
	"github.com/api2mcp/api2mcp/configs"
)

const oauthResource = "https://mcp.example.com"

// oauthFixture is a server in mode oauth in front of a recording upstream,
// with a test authorization server as its issuer.
type oauthFixture struct {
	as    *authntest.Server
	key   *authntest.Key
	front *httptest.Server
	mu    sync.Mutex
	seen  []http.Header // upstream request headers
}

func newOAuthFixture(t *testing.T) *oauthFixture {
	f := &oauthFixture{as: authntest.NewServer(t)}
	f.key = f.as.NewKey(t, "RS256")
	f.as.Publish(f.key)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.Header.Clone())
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	}))
	t.Cleanup(up.Close)
	yaml := fmt.Sprintf(`
server:
  public_url: %s
auth:
  mode: oauth
  scopes: [mcp]
  oauth:
    issuer: %s
upstreams:
  api: { url: %q }
tools:
  - name: read_pets
    upstream: api
    path: /pets
    scopes: [pets:read]
    headers: { X-Caller: 'claims.email ?? claims.sub' }
  - name: write_pets
    upstream: api
    method: POST
    path: /pets
    scopes: [pets:write]
  - name: ping
    upstream: api
    path: /ping
`, oauthResource, f.as.Issuer, up.URL)
	cfg, err := configs.Load("mcp.yaml", &configs.Options{
		Environ:  func() []string { return nil },
		ReadFile: func(string) ([]byte, error) { return []byte(yaml), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	streams, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.front = httptest.NewServer(srv.Handler(streams))
	t.Cleanup(f.front.Close)
	return f
}

func (f *oauthFixture) token(t *testing.T, scope string) string {
	c := f.as.Claims(oauthResource, "user-1", scope)
	c["email"] = "ada@example.com"
	return f.as.Sign(t, f.key, c)
}

func (f *oauthFixture) post(t *testing.T, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.front.URL+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// A client without a token finds the authorization server from the 401.
func TestOAuthDiscovery(t *testing.T) {
	f := newOAuthFixture(t)
	resp, _ := f.post(t, "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	wantChallenge := `Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", scope="mcp"`
	if got := resp.Header.Get("WWW-Authenticate"); got != wantChallenge {
		t.Errorf("WWW-Authenticate = %s\nwant %s", got, wantChallenge)
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"} {
		resp, err := http.Get(f.front.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		want := map[string]any{
			"resource":                 oauthResource,
			"authorization_servers":    []any{f.as.Issuer},
			"scopes_supported":         []any{"mcp", "pets:read", "pets:write"},
			"bearer_methods_supported": []any{"header"},
			"resource_name":            "api2mcp",
		}
		if diff := cmp.Diff(want, doc); diff != "" {
			t.Errorf("%s (-want +got):\n%s", path, diff)
		}
	}
}

func TestOAuthToolScopes(t *testing.T) {
	f := newOAuthFixture(t)
	reader := f.token(t, "mcp pets:read")
	// tools/list shows what the token can use.
	resp, body := f.post(t, reader, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("tools/list: %d %s", resp.StatusCode, body)
	}
	var list struct {
		Result struct{ Tools []struct{ Name string } } `json:"result"`
	}
	json.Unmarshal(body, &list)
	var names []string
	for _, tl := range list.Result.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"ping", "read_pets"}, names); diff != "" {
		t.Errorf("tools/list (-want +got):\n%s", diff)
	}
	// A call without the tool's scope: the step-up challenge.
	resp, body = f.post(t, reader, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"write_pets","arguments":{}}}`)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("write_pets: %d %s, want 403", resp.StatusCode, body)
	}
	want := `Bearer error="insufficient_scope", error_description="the token lacks a scope this tool requires", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", scope="mcp pets:write"`
	if got := resp.Header.Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate = %s\nwant %s", got, want)
	}
	// The claims reach the mapping; the token does not reach the upstream.
	resp, body = f.post(t, reader, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_pets","arguments":{}}}`)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"structuredContent"`)) {
		t.Fatalf("read_pets: %d %s", resp.StatusCode, body)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) != 1 {
		t.Fatalf("upstream requests = %d, want 1", len(f.seen))
	}
	if got := f.seen[0].Get("X-Caller"); got != "ada@example.com" {
		t.Errorf("X-Caller = %q, want the token's email claim", got)
	}
	if got := f.seen[0].Get("Authorization"); got != "" {
		t.Errorf("the agent's Authorization reached the upstream: %q", got)
	}
}

// The legacy SSE transport: the identity of the GET that opens the session
// holds for the calls posted to it.
func TestOAuthSSE(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	connect := func(token string) (*mcp.ClientSession, error) {
		c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
		return c.Connect(ctx, &mcp.SSEClientTransport{Endpoint: f.front.URL + "/sse", HTTPClient: bearerClient(token)}, nil)
	}
	if _, err := connect(""); err == nil {
		t.Fatal("an SSE session opened without a token")
	}
	cs, err := connect(f.token(t, "mcp pets:read"))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) != 2 {
		t.Errorf("tools over SSE = %d, want 2 (read_pets, ping)", len(res.Tools))
	}
	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "read_pets", Arguments: map[string]any{}})
	if err != nil || r.IsError {
		t.Fatalf("read_pets over SSE: %v %+v", err, r)
	}
	f.mu.Lock()
	got := f.seen[len(f.seen)-1].Get("X-Caller")
	f.mu.Unlock()
	if got != "ada@example.com" {
		t.Errorf("X-Caller over SSE = %q, want the session's identity", got)
	}
}

type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func bearerClient(token string) *http.Client {
	return &http.Client{Transport: bearerTransport{token}}
}

// fakeListener reports an address it does not listen on.
type fakeListener struct {
	net.Listener
	addr net.Addr
}

func (l fakeListener) Addr() net.Addr { return l.addr }
func (l fakeListener) Close() error   { return nil }

// The listen address can come from --listen after the config was checked:
// Serve checks the address it is given.
func TestServeRefusesNoneOnPublicAddress(t *testing.T) {
	yaml := "upstreams:\n  api: { url: http://127.0.0.1:1 }\n"
	cfg, err := configs.Load("mcp.yaml", &configs.Options{
		Environ:  func() []string { return nil },
		ReadFile: func(string) ([]byte, error) { return []byte(yaml), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln := fakeListener{addr: &net.TCPAddr{IP: net.IPv4zero, Port: 8080}}
	err = srv.Serve(context.Background(), ln)
	if err == nil || !strings.Contains(err.Error(), "auth mode none is allowed only on a loopback address, not 0.0.0.0:8080") {
		t.Errorf("Serve on 0.0.0.0 = %v, want a refusal", err)
	}
}

// A message posted to an SSE session by another caller is refused.
func TestOAuthSSESessionBound(t *testing.T) {
	f := newOAuthFixture(t)
	owner := f.token(t, "mcp pets:read")
	c := f.as.Claims(oauthResource, "mallory", "mcp pets:read pets:write")
	other := f.as.Sign(t, f.key, c)

	req, _ := http.NewRequest(http.MethodGet, f.front.URL+"/sse", nil)
	req.Header.Set("Authorization", "Bearer "+owner)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	_, rest, ok := strings.Cut(string(buf[:n]), "data: ")
	if !ok {
		t.Fatalf("no endpoint event: %q", buf[:n])
	}
	endpoint := strings.TrimSpace(rest)
	post := func(token string) int {
		r, _ := http.NewRequest(http.MethodPost, f.front.URL+endpoint, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(other); got != http.StatusForbidden {
		t.Errorf("another caller posting to the session: %d, want 403", got)
	}
	if got := post(owner); got != http.StatusAccepted {
		t.Errorf("the owner posting to the session: %d, want 202", got)
	}
}

// Stateful sessions belong to the caller who created them: the SDK checks
// TokenInfo.UserID, which the front door sets to the caller's subject.
func TestStatefulSessionBound(t *testing.T) {
	yaml := `
server: { stateful: true }
auth:
  mode: api_key
  api_keys:
    - { name: alice, key: alice-key-0123456789 }
    - { name: bob, key: bob-key-0123456789 }
upstreams:
  api: { url: "http://127.0.0.1:1" }
tools:
  - { name: ping, upstream: api, path: /ping }
`
	cfg, err := configs.Load("mcp.yaml", &configs.Options{
		Environ:  func() []string { return nil },
		ReadFile: func(string) ([]byte, error) { return []byte(yaml), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	streams, cancel := context.WithCancel(context.Background())
	defer cancel()
	front := httptest.NewServer(srv.Handler(streams))
	defer front.Close()
	post := func(key, session, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, front.URL+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+key)
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	init := post("alice-key-0123456789", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	session := init.Header.Get("Mcp-Session-Id")
	if init.StatusCode != 200 || session == "" {
		t.Fatalf("initialize: %d, session %q", init.StatusCode, session)
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	if got := post("bob-key-0123456789", session, list).StatusCode; got != http.StatusForbidden {
		t.Errorf("bob using alice's session: %d, want 403", got)
	}
	if got := post("alice-key-0123456789", session, list).StatusCode; got != http.StatusOK {
		t.Errorf("alice using her session: %d, want 200", got)
	}
}
