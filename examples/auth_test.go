package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/api2mcp/api2mcp/authn/authntest"
	"github.com/api2mcp/api2mcp/configs"
	"github.com/api2mcp/api2mcp/examples/internal/petstore"
	"github.com/api2mcp/api2mcp/proxy"
)

// exampleIssuer is the Keycloak realm written in oauth-keycloak/mcp.yaml;
// the test replaces it with a test authorization server.
const exampleIssuer = "https://keycloak.example.com/realms/acme"

// authExample serves dir/mcp.yaml over HTTP in front of a fresh petstore,
// with replacements applied to the file and env as its environment.
type authExample struct {
	front *httptest.Server
	up    *upstreamLog
}

func startAuthExample(t *testing.T, dir string, replace map[string]string, env map[string]string, files map[string]string) *authExample {
	t.Helper()
	log := &upstreamLog{}
	api := petstore.New(petstoreKey)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		log.mu.Lock()
		log.reqs = append(log.reqs, upstreamRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		log.mu.Unlock()
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	replace[exampleUpstream] = up.URL
	env["PETSTORE_API_KEY"] = petstoreKey
	cfg, err := configs.Load(filepath.Join(dir, "mcp.yaml"), &configs.Options{
		Environ: func() []string { return nil },
		LookupEnv: func(name string) (string, bool) {
			v, ok := env[name]
			return v, ok
		},
		ReadFile: func(name string) ([]byte, error) {
			if s, ok := files[name]; ok {
				return []byte(s), nil
			}
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, err
			}
			for from, to := range replace {
				if !bytes.Contains(b, []byte(from)) {
					return nil, fmt.Errorf("%s does not contain %s", name, from)
				}
				b = bytes.ReplaceAll(b, []byte(from), []byte(to))
			}
			return b, nil
		},
	})
	if err != nil {
		t.Fatalf("loading %s/mcp.yaml:\n%v", dir, err)
	}
	s, err := proxy.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	streams, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	front := httptest.NewServer(s.Handler(streams))
	t.Cleanup(front.Close)
	return &authExample{front: front, up: log}
}

// rpc posts one JSON-RPC request with a bearer token and returns the HTTP
// response and the decoded result (nil unless 200).
func (e *authExample) rpc(t *testing.T, token, method, params string) (*http.Response, map[string]any) {
	t.Helper()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q,"params":%s}`, method, params)
	req, _ := http.NewRequest(http.MethodPost, e.front.URL+"/mcp", strings.NewReader(body))
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
	raw, _ := io.ReadAll(resp.Body)
	if bytes.Contains(raw, []byte(petstoreKey)) {
		t.Errorf("the upstream key reached the client: %s", raw)
	}
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	var msg struct {
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal(raw, &msg); err != nil {
		t.Fatalf("decoding %s", raw)
	}
	return resp, msg.Result
}

func toolNames(result map[string]any) []string {
	var names []string
	tools, _ := result["tools"].([]any)
	for _, tl := range tools {
		names = append(names, tl.(map[string]any)["name"].(string))
	}
	slices.Sort(names)
	return names
}

func TestOAuthKeycloak(t *testing.T) {
	as := authntest.NewServer(t)
	key := as.NewKey(t, "RS256")
	as.Publish(key)
	e := startAuthExample(t, "oauth-keycloak", map[string]string{exampleIssuer: as.Issuer}, map[string]string{}, nil)
	token := func(scope, email string) string {
		c := as.Claims("api2mcp", "f3a1-user", scope) // the audience alias, as Keycloak's mapper sets it
		c["email"] = email
		c["preferred_username"] = "ada"
		return as.Sign(t, key, c)
	}

	resp, _ := e.rpc(t, "", "tools/list", "{}")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"`) {
		t.Errorf("no token: %d %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	reader := token("mcp pets:read", "ada@partner.example")
	_, res := e.rpc(t, reader, "tools/list", "{}")
	if diff := cmp.Diff([]string{"find_pets", "get_pet"}, toolNames(res)); diff != "" {
		t.Errorf("reader's tools (-want +got):\n%s", diff)
	}
	resp, _ = e.rpc(t, reader, "tools/call", `{"name":"add_pet","arguments":{"name":"Tom"}}`)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="mcp pets:write"`) {
		t.Errorf("reader adding a pet: %d %s, want 403 naming pets:write", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	_, res = e.rpc(t, reader, "tools/call", `{"name":"get_pet","arguments":{"id":1}}`)
	if res["isError"] == true {
		t.Errorf("reader getting a pet: %v", res)
	}

	writer := token("mcp pets:read pets:write", "bob@partner.example")
	_, res = e.rpc(t, writer, "tools/call", `{"name":"add_pet","arguments":{"name":"Tom","status":"sold"}}`)
	if res["isError"] != true || !strings.Contains(fmt.Sprint(res["content"]), "add_pet: access denied") {
		t.Errorf("a partner adding a sold pet: %v, want access denied", res)
	}
	_, res = e.rpc(t, writer, "tools/call", `{"name":"add_pet","arguments":{"name":"Tom"}}`)
	if res["isError"] == true {
		t.Fatalf("a writer adding a pet: %v", res)
	}
	last := e.up.last(t)
	if !bytes.Contains(last.Body, []byte(`"added-by:ada"`)) || last.Header.Get("Authorization") != "" {
		t.Errorf("upstream got body %s, Authorization %q; want the caller's name and no token", last.Body, last.Header.Get("Authorization"))
	}
}

func TestAPIKeySidecar(t *testing.T) {
	const support, bot = "support-key-0123456789", "inventory-key-0123456789"
	e := startAuthExample(t, "api-key-sidecar", map[string]string{}, map[string]string{"SUPPORT_ASSISTANT_KEY": support},
		map[string]string{"/run/secrets/inventory-bot-key": bot + "\n"})

	if resp, _ := e.rpc(t, "", "tools/list", "{}"); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="api2mcp"` {
		t.Errorf("no key: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	_, res := e.rpc(t, support, "tools/list", "{}")
	if diff := cmp.Diff([]string{"get_pet"}, toolNames(res)); diff != "" {
		t.Errorf("support-assistant's tools (-want +got):\n%s", diff)
	}
	_, res = e.rpc(t, bot, "tools/list", "{}")
	if diff := cmp.Diff([]string{"add_pet", "get_pet"}, toolNames(res)); diff != "" {
		t.Errorf("inventory-bot's tools (-want +got):\n%s", diff)
	}
	if resp, _ := e.rpc(t, support, "tools/call", `{"name":"add_pet","arguments":{"name":"Tom"}}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support-assistant adding a pet: %d, want 403", resp.StatusCode)
	}
	_, res = e.rpc(t, bot, "tools/call", `{"name":"add_pet","arguments":{"name":"Tom"}}`)
	if res["isError"] == true {
		t.Fatalf("inventory-bot adding a pet: %v", res)
	}
	if last := e.up.last(t); !bytes.Contains(last.Body, []byte(`"added-by:inventory-bot"`)) {
		t.Errorf("upstream body %s, want the key's name", last.Body)
	}
}
