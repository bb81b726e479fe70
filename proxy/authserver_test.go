package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api2mcp/api2mcp/authn/authntest"
	"github.com/api2mcp/api2mcp/configs"
)

// asFixture is api2mcp serving in mode authorization_server, logging users
// in at a test GitHub, with a user_token upstream that records the
// Authorization header it receives and echoes it back.
type asFixture struct {
	url      string
	provider *authntest.Provider
	log      *syncBuffer
	mu       sync.Mutex
	seen     []string // Authorization headers at the upstream
}

const asYAML = `
server:
  listen: %[1]s
  public_url: http://%[1]s
auth:
  mode: authorization_server
  authorization_server:
    login:
      provider: github
      client_id: %[2]s
      client_secret: ${GITHUB_CLIENT_SECRET}
      allowed_users: ["583231"]
      auth_url: %[3]s/login/oauth/authorize
      token_url: %[3]s/login/oauth/access_token
      api_url: %[3]s
    encryption_key: ${API2MCP_ENCRYPTION_KEY}
    state: { file: %[5]s }
upstreams:
  gh:
    url: %[4]s
    auth: { type: user_token }
  plain:
    url: %[4]s
tools:
  - name: whoami
    upstream: gh
    path: /user
    cache: { ttl: 1m }
  - name: plain
    upstream: plain
    path: /plain
`

func newASFixture(t *testing.T) *asFixture {
	f := &asFixture{provider: authntest.NewProvider(t)}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		f.mu.Lock()
		f.seen = append(f.seen, auth)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		// A careless upstream that echoes the credential it received.
		json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "echo": auth})
	}))
	t.Cleanup(up.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	f.url = "http://" + addr
	yaml := fmt.Sprintf(asYAML, addr, f.provider.ClientID, f.provider.URL, up.URL, t.TempDir()+"/auth.db")
	secrets := map[string]string{
		"GITHUB_CLIENT_SECRET":   f.provider.ClientSecret,
		"API2MCP_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
	}
	cfg, err := configs.Load("mcp.yaml", &configs.Options{
		Environ:   func() []string { return nil },
		LookupEnv: func(k string) (string, bool) { v, ok := secrets[k]; return v, ok },
		ReadFile:  func(string) ([]byte, error) { return []byte(yaml), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.log = &syncBuffer{}
	srv, err := New(cfg, &Options{Logger: slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return f
}

// login registers a client and logs the provider's user in, returning an
// access token.
func (f *asFixture) login(t *testing.T) string {
	t.Helper()
	const redirect = "http://127.0.0.1:49153/cb"
	resp, err := http.Post(f.url+"/register", "application/json", strings.NewReader(`{"redirect_uris":["`+redirect+`"],"client_name":"proxy test"}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg map[string]any
	json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	clientID, _ := reg["client_id"].(string)
	if clientID == "" {
		t.Fatalf("register: HTTP %d %v", resp.StatusCode, reg)
	}
	verifier, challenge := authntest.PKCE("v")
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"s"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	back := authntest.NewBrowser(t, redirect).Approve(f.url + "/authorize?" + q.Encode())
	resp, err = http.PostForm(f.url+"/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID},
		"code": {back.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	at, _ := tok["access_token"].(string)
	if at == "" {
		t.Fatalf("token: HTTP %d %v", resp.StatusCode, tok)
	}
	return at
}

// TestAuthorizationServerUserToken: a user logged in through the built-in
// authorization server calls a tool whose upstream receives that user's own
// provider token, which never reaches the agent; an upstream without
// auth type user_token receives no credential.
func TestAuthorizationServerUserToken(t *testing.T) {
	f := newASFixture(t)
	// Without a token: the challenge points at the metadata, which names
	// this server as the authorization server.
	resp, _, err := postMCP(f.url, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Fatalf("no token: HTTP %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	at := f.login(t)
	call := func(tool string) map[string]any {
		t.Helper()
		resp, body, err := postMCP(f.url, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"`+tool+`","arguments":{}}}`,
			map[string]string{"Authorization": "Bearer " + at})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("tools/call %s: %v HTTP %d %s", tool, err, resp.StatusCode, body)
		}
		var out struct {
			Result map[string]any `json:"result"`
		}
		json.Unmarshal([]byte(body), &out)
		return out.Result
	}
	res := call("whoami")
	f.mu.Lock()
	seen := append([]string(nil), f.seen...)
	f.mu.Unlock()
	if len(seen) != 1 {
		t.Fatalf("upstream calls: %d", len(seen))
	}
	tok, ok := strings.CutPrefix(seen[0], "Bearer ")
	if u, known := f.provider.UserOf(tok); !ok || !known || u.ID != 583231 {
		t.Errorf("the upstream received %q, not the user's provider token", seen[0])
	}
	text, _ := json.Marshal(res)
	if strings.Contains(string(text), tok) || strings.Contains(string(text), at) || !strings.Contains(string(text), "[redacted]") {
		t.Errorf("the echoed credential reached the agent unredacted: %s", text)
	}
	if strings.Contains(f.log.String(), tok) || strings.Contains(f.log.String(), at) {
		t.Errorf("a token is in the log")
	}
	// Cached per user (scope user): the second call is a hit.
	call("whoami")
	call("plain")
	f.mu.Lock()
	seen = append([]string(nil), f.seen...)
	f.mu.Unlock()
	if len(seen) != 2 || seen[1] != "" {
		t.Errorf("upstream Authorization headers %q: want the cache hit not to call, and the plain upstream to get none", seen)
	}
	// What the authorization server did is counted.
	mresp, err := http.Get(f.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{`api2mcp_auth_server_events_total{event="client_registered"} 1`, `api2mcp_auth_server_events_total{event="login"} 1`,
		`api2mcp_auth_server_events_total{event="code_redeemed"} 1`, `api2mcp_auth_failures_total{reason="missing_token"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestUserTokenConfigErrors: user_token needs the built-in authorization
// server, cannot share a cache across users, and owns Authorization.
func TestUserTokenConfigErrors(t *testing.T) {
	for name, c := range map[string]struct{ yaml, want string }{
		"without authorization server": {`
upstreams:
  gh: { url: "http://127.0.0.1:1", auth: { type: user_token } }
tools:
  - { name: t, upstream: gh, path: /x }
`, "upstreams.gh.auth.type: user_token needs auth.mode authorization_server"},
		"unknown type": {`
upstreams:
  gh: { url: "http://127.0.0.1:1", auth: { type: basic } }
tools:
  - { name: t, upstream: gh, path: /x }
`, `upstreams.gh.auth.type: "basic" is not user_token`},
		"with an Authorization header": {`
upstreams:
  gh: { url: "http://127.0.0.1:1", auth: { type: user_token }, headers: { Authorization: "Bearer x" } }
tools:
  - { name: t, upstream: gh, path: /x }
`, "user_token sends the caller's token as Authorization"},
		"shared cache": {`
upstreams:
  gh: { url: "http://127.0.0.1:1", auth: { type: user_token } }
tools:
  - { name: t, upstream: gh, path: /x, cache: { ttl: 1m, scope: shared } }
`, "one user's data would reach another"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := configs.Load("mcp.yaml", &configs.Options{
				Environ:  func() []string { return nil },
				ReadFile: func(string) ([]byte, error) { return []byte(c.yaml), nil },
			})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}
