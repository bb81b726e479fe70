//go:build linux

// The login tests kill their clients by process group, and mcp-remote
// opens its browser with xdg-open, which reads BROWSER: Linux only.

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/api2mcp/api2mcp/internal/redistest"
)

// The user every token of the login provider (login_provider.mjs) is for;
// allowed_users names it.
const (
	loginSub   = "e2e-ada"
	loginEmail = "ada@example.com"
)

// TestAuthorizationServer runs the binary as its own OAuth authorization
// server (auth mode authorization_server), with users logging in at an
// OpenID Connect provider played by the npm oauth2-mock-server, and a
// user_token upstream that must receive each user's own provider token. Real
// clients log in through a scripted browser (browser.mjs): the TypeScript
// SDK client with dynamic registration and then with a client id metadata
// document, and mcp-remote, which opens the browser itself. Once with the
// embedded file store and once with Redis; each time the binary is
// restarted and a token issued before still works.
func TestAuthorizationServer(t *testing.T) {
	requireNode(t)
	t.Run("file_store", func(t *testing.T) {
		t.Parallel()
		db := filepath.Join(t.TempDir(), "api2mcp-auth.db")
		runAuthorizationServer(t, "file: "+db)
		if _, err := os.Stat(db); err != nil {
			t.Errorf("the file store: %v", err)
		}
	})
	t.Run("redis_store", func(t *testing.T) {
		t.Parallel()
		redis := redistest.URL(t)
		runAuthorizationServer(t, "redis:\n        url: ${E2E_REDIS_URL}\n        prefix: \"e2e:as:\"", "E2E_REDIS_URL="+redis)
	})
}

// TestAuthorizationServerProviderRefresh logs in with the TypeScript SDK
// client at a provider whose access tokens expire at once: before each
// upstream call api2mcp refreshes the user's provider token with the
// provider's refresh token, and the upstream gets the refreshed one.
func TestAuthorizationServerProviderRefresh(t *testing.T) {
	requireNode(t)
	t.Parallel()
	login := startLoginProvider(t, "TOKEN_TTL=1")
	up := startUserUpstream(t)
	addr := freeAddr(t)
	public := "http://" + addr
	path, env := writeASConfig(t, public, login.issuer, up.URL, "file: "+filepath.Join(t.TempDir(), "api2mcp-auth.db"), "")
	srv := startServeOn(t, addr, path, env...)
	failf := func(format string, a ...any) {
		t.Helper()
		t.Fatalf(format+"\nserver log:\n%s", append(a, srv.log)...)
	}
	var r asReport
	decode(t, runASClient(t, failf, nil, "sdk", public+"/mcp"), &r)
	checkSDKLogin(t, &r, public)

	login.accessTokens(t, "authorization_code", 1)
	refreshed := login.accessTokens(t, "refresh_token", 2) // one per call
	want := []string{"Bearer " + refreshed[0], "Bearer " + refreshed[1]}
	if diff := cmp.Diff(want, up.authorizations()); diff != "" {
		t.Errorf("Authorization headers at the upstream (-want +got):\n%s", diff)
	}
	if err := srv.stop(); err != nil {
		t.Errorf("api2mcp serve after SIGTERM: %v", err)
	}
	if log := srv.log.String(); strings.Contains(log, "level=ERROR") || strings.Contains(log, "level=WARN") {
		t.Errorf("the server log has warnings or errors:\n%s", log)
	}
}

// asReport is what as_client.mjs sdk prints.
type asReport struct {
	FirstConnect struct {
		Connected bool              `json:"connected"`
		Error     map[string]string `json:"error"`
	} `json:"first_connect"`
	Discovery struct {
		ResourceMetadata struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
		} `json:"resource_metadata"`
		AuthorizationServer string `json:"authorization_server"`
		Issuer              string `json:"issuer"`
		Registration        string `json:"registration_endpoint"`
		CIMD                bool   `json:"client_id_metadata_document_supported"`
	} `json:"discovery"`
	Tools        []string    `json:"tools"`
	Call         *toolResult `json:"call"`
	RevokeStatus int         `json:"revoke_status"`
	AfterRefresh *toolResult `json:"after_refresh"`
	ClientID     string      `json:"client_id"`
	Registered   int         `json:"registrations"`
	Logins       []struct {
		Authorization map[string]string `json:"authorization"`
		Error         string            `json:"error"`
		StateOK       bool              `json:"state_ok"`
		Iss           string            `json:"iss"`
		HasCode       bool              `json:"has_code"`
	} `json:"logins"`
	Tokens []struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
		Scope        string `json:"scope"`
	} `json:"tokens"`
	Invalidated []string `json:"invalidated"`
}

// runAuthorizationServer runs the scenario with state, the YAML of
// auth.authorization_server.state, and env, more environment of api2mcp.
func runAuthorizationServer(t *testing.T, state string, env ...string) {
	started := time.Now()
	login := startLoginProvider(t)
	up := startUserUpstream(t)
	doc := startClientDocument(t)
	addr := freeAddr(t)
	public := "http://" + addr
	path, env := writeASConfig(t, public, login.issuer, up.URL, state, doc.certFile, env...)
	srv := startServeOn(t, addr, path, env...)
	failf := func(format string, a ...any) {
		t.Helper()
		t.Fatalf(format+"\nserver log:\n%s", append(a, srv.log)...)
	}

	// 1. The TypeScript SDK client, registering itself (RFC 7591).
	var dcr asReport
	decode(t, runASClient(t, failf, nil, "sdk", public+"/mcp"), &dcr)
	checkSDKLogin(t, &dcr, public)
	if dcr.Registered != 1 || !strings.HasPrefix(dcr.ClientID, "a2m_client_") {
		t.Errorf("dynamic registration: %d registrations, client_id %q; want 1, a2m_client_…", dcr.Registered, dcr.ClientID)
	}

	// 2. The SDK client again, identified by its metadata document URL.
	var cimd asReport
	decode(t, runASClient(t, failf, nil, "sdk", public+"/mcp", doc.url), &cimd)
	checkSDKLogin(t, &cimd, public)
	if cimd.Registered != 0 || cimd.ClientID != doc.url {
		t.Errorf("metadata document client: %d registrations, client_id %q; want 0, %s", cimd.Registered, cimd.ClientID, doc.url)
	}
	if doc.fetches() == 0 {
		t.Error("api2mcp never fetched the client metadata document")
	}

	// 3. mcp-remote, with the scripted browser as BROWSER.
	browser, err := filepath.Abs("browser.mjs")
	if err != nil {
		t.Fatal(err)
	}
	browserLog := filepath.Join(t.TempDir(), "browser.log")
	var remote struct {
		Tools []string    `json:"tools"`
		Call  *toolResult `json:"call"`
	}
	decode(t, runASClient(t, failf, []string{"BROWSER=" + browser, "E2E_BROWSER_LOG=" + browserLog,
		"MCP_REMOTE_CONFIG_DIR=" + t.TempDir(), "HOME=" + t.TempDir()}, "remote", public+"/mcp"), &remote)
	if diff := cmp.Diff([]string{"whoami"}, remote.Tools); diff != "" {
		t.Errorf("tools/list through mcp-remote (-want +got):\n%s", diff)
	}
	if remote.Call == nil || remote.Call.IsError || !strings.Contains(remote.Call.text(), `"login":"ada"`) {
		t.Errorf("whoami through mcp-remote = %+v", remote.Call)
	}
	if b := waitBrowser(t, browserLog); !bytes.Contains(b, []byte("POST "+public+"/consent -> 303")) || !bytes.Contains(b, []byte("/oauth/callback -> 200")) {
		t.Errorf("the browser mcp-remote opened did not log in and come back to it:\n%s", b)
	}

	// The upstream saw each user's own provider token: the one issued at
	// that login (the SDK client's two calls, then mcp-remote's one), and
	// never one of api2mcp's.
	issued := login.accessTokens(t, "authorization_code", 3)
	want := []string{"Bearer " + issued[0], "Bearer " + issued[0], "Bearer " + issued[1], "Bearer " + issued[1], "Bearer " + issued[2]}
	if diff := cmp.Diff(want, up.authorizations()); diff != "" {
		t.Errorf("Authorization headers at the upstream (-want +got):\n%s", diff)
	}

	// 4. A refresh token used twice revokes its grant (the first client's):
	// its newest access token stops working.
	reused := postForm(t, public+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {dcr.Tokens[0].RefreshToken}, "client_id": {dcr.ClientID}})
	if reused.status != http.StatusBadRequest || !strings.Contains(reused.body, "invalid_grant") {
		t.Errorf("refresh token reused: HTTP %d %s; want 400 invalid_grant", reused.status, reused.body)
	}
	if status, body := callWhoami(t, public, dcr.Tokens[1].AccessToken); status != http.StatusUnauthorized {
		t.Errorf("access token of a revoked grant: HTTP %d %s; want 401", status, body)
	}

	// 5. Restart: the second client's grant, tokens and provider token
	// survive in the store.
	if err := srv.stop(); err != nil {
		t.Errorf("api2mcp serve after SIGTERM: %v", err)
	}
	firstLog := srv.log.String()
	srv = startServeOn(t, addr, path, env...)
	status, body := callWhoami(t, public, cimd.Tokens[1].AccessToken)
	if status != http.StatusOK || !strings.Contains(body, `\"login\":\"ada\"`) {
		t.Errorf("whoami after a restart with a token issued before: HTTP %d %s", status, body)
	}
	if got := up.authorizations(); len(got) != 6 || got[5] != "Bearer "+issued[1] {
		t.Errorf("after the restart the upstream got %q, want the second login's provider token", got[len(got)-1:])
	}
	if refreshed := login.accessTokens(t, "refresh_token", 0); len(refreshed) != 0 {
		t.Errorf("api2mcp refreshed provider tokens that were valid for an hour")
	}
	if err := srv.stop(); err != nil {
		t.Errorf("api2mcp serve after SIGTERM: %v", err)
	}

	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "api2mcp-auth.db")); err == nil {
		t.Error("api2mcp made its default state file although state names another store")
	}

	// The log tells what happened, and holds no token.
	log := firstLog + srv.log.String()
	for _, what := range []string{"auth_client_registered", "auth_granted", "auth_refresh_reuse"} {
		if !strings.Contains(log, what) {
			t.Errorf("the server log has no %s line", what)
		}
	}
	if n := strings.Count(log, "msg=auth_granted"); n != 3 {
		t.Errorf("the server log has %d auth_granted lines, want 3 (one per login)", n)
	}
	var secrets []string
	for _, r := range []*asReport{&dcr, &cimd} {
		for _, tk := range r.Tokens {
			secrets = append(secrets, tk.AccessToken, tk.RefreshToken)
		}
	}
	secrets = append(secrets, issued...)
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("a token appears in the server log:\n%s", log)
			break
		}
	}
	if strings.Contains(log, "level=ERROR") || strings.Contains(log, "panic:") {
		t.Errorf("the server log has errors:\n%s", log)
	}
	t.Logf("three logins, a refresh, a replay and a restart in %s", time.Since(started).Round(100*time.Millisecond))
}

// writeASConfig writes the mcp.yaml of an authorization server at public
// with users logging in at issuer, and a user_token upstream at upstream,
// and returns its path and the environment api2mcp needs, env included.
// certFile is the client metadata document's certificate, trusted by api2mcp.
func writeASConfig(t *testing.T, public, issuer, upstream, state, certFile string, env ...string) (string, []string) {
	t.Helper()
	config := `server:
  name: e2e-as
  version: 1.0.0-e2e
  public_url: ` + public + `
auth:
  mode: authorization_server
  scopes: [mcp]
  authorization_server:
    login:
      provider: oidc
      issuer: ` + issuer + `
      client_id: e2e-login-client
      client_secret: ${E2E_LOGIN_SECRET}
      allowed_users: [` + loginSub + `]
    encryption_key: ${API2MCP_ENCRYPTION_KEY}   # the name the README uses
    state:
      ` + state + `
    allow_private_client_hosts: true   # the client metadata document is on 127.0.0.1
upstreams:
  api:
    url: ` + upstream + `
    auth: { type: user_token }
tools:
  - name: whoami
    description: The user the upstream API sees.
    upstream: api
    path: /user
`
	path := filepath.Join(t.TempDir(), "mcp.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	env = append(env, "E2E_LOGIN_SECRET=e2e-login-secret", "API2MCP_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(key))
	if certFile != "" {
		// Go trusts the client metadata document's test certificate.
		env = append(env, "SSL_CERT_FILE="+certFile)
	}
	return path, env
}

// checkSDKLogin checks one run of as_client.mjs sdk: the 401, discovery,
// one login through the browser, the code redeemed, two calls with a
// refresh between them.
func checkSDKLogin(t *testing.T, r *asReport, public string) {
	t.Helper()
	if r.FirstConnect.Connected || r.FirstConnect.Error["name"] != "UnauthorizedError" {
		t.Errorf("first connect = %+v, want UnauthorizedError (the login is pending)", r.FirstConnect)
	}
	d := r.Discovery
	if !cmp.Equal(d.ResourceMetadata.AuthorizationServers, []string{public}) || !strings.HasPrefix(d.ResourceMetadata.Resource, public) {
		t.Errorf("protected-resource metadata = %+v, want authorization_servers [%s]", d.ResourceMetadata, public)
	}
	if d.Issuer != public || d.Registration != public+"/register" || !d.CIMD {
		t.Errorf("authorization server metadata: issuer %q registration_endpoint %q client_id_metadata_document_supported %v", d.Issuer, d.Registration, d.CIMD)
	}
	if len(r.Logins) != 1 {
		t.Fatalf("the SDK opened the browser %d times, want once: %+v", len(r.Logins), r.Logins)
	}
	l := r.Logins[0]
	if l.Error != "" || !l.HasCode || !l.StateOK || l.Iss != public {
		t.Errorf("authorization response: error %q, code %v, state echoed %v, iss %q (want %s)", l.Error, l.HasCode, l.StateOK, l.Iss, public)
	}
	if a := l.Authorization; a["code_challenge_method"] != "S256" || a["scope"] != "mcp" || !strings.HasPrefix(a["resource"], public) || a["client_id"] != r.ClientID {
		t.Errorf("authorization request = %v", a)
	}
	// The code's tokens, then the refresh's: all distinct, rotated.
	if len(r.Tokens) != 2 {
		t.Fatalf("the SDK saved %d token sets, want 2 (code, refresh)", len(r.Tokens))
	}
	seen := map[string]bool{}
	for _, tk := range r.Tokens {
		if !strings.HasPrefix(tk.AccessToken, "a2m_at_") || !strings.HasPrefix(tk.RefreshToken, "a2m_rt_") || tk.Scope != "mcp" || tk.ExpiresIn != 3600 {
			t.Errorf("token set = %+v, want a2m_at_…, a2m_rt_…, scope mcp, an hour", tk)
		}
		if seen[tk.AccessToken] || seen[tk.RefreshToken] {
			t.Errorf("a token was issued twice")
		}
		seen[tk.AccessToken], seen[tk.RefreshToken] = true, true
	}
	if diff := cmp.Diff([]string{"whoami"}, r.Tools); diff != "" {
		t.Errorf("tools/list (-want +got):\n%s", diff)
	}
	if r.RevokeStatus != http.StatusOK {
		t.Errorf("revoking the access token: HTTP %d", r.RevokeStatus)
	}
	for name, res := range map[string]*toolResult{"call": r.Call, "after refresh": r.AfterRefresh} {
		if res == nil || res.IsError || !strings.Contains(res.text(), `"login":"ada"`) {
			t.Errorf("whoami (%s) = %+v", name, res)
		}
	}
}

// waitBrowser returns the log of browser.mjs once it is complete. The
// browser runs detached from mcp-remote, which may be done with its calls
// before the browser has written its last line and exited.
func waitBrowser(t *testing.T, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if bytes.HasSuffix(b, []byte("done\n")) || time.Now().After(deadline) {
			return b
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runASClient runs as_client.mjs with args and returns its report.
func runASClient(t *testing.T, failf func(string, ...any), env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"as_client.mjs"}, args...)...)
	cmd.Env = environ(env...)
	cmd.WaitDelay = stopTimeout
	// Its own process group, killed as a whole: mcp-remote must not outlive
	// a client that failed or timed out.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		failf("node as_client.mjs %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parsing the report: %v\n%s", err, b)
	}
}

type httpAnswer struct {
	status int
	body   string
}

func postForm(t *testing.T, u string, form url.Values) httpAnswer {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpAnswer{resp.StatusCode, string(b)}
}

// callWhoami calls the tool whoami with a bearer token in one stateless
// Streamable HTTP request, and returns the status and body.
func callWhoami(t *testing.T, public, token string) (int, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, public+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// loginProvider is login_provider.mjs: oauth2-mock-server as the OpenID
// Connect provider users log in at.
type loginProvider struct {
	issuer string

	mu     sync.Mutex
	tokens map[string][]string // access tokens issued, by grant type, in order
	more   chan struct{}
}

// startLoginProvider starts login_provider.mjs with env, more of its
// environment.
func startLoginProvider(t *testing.T, env ...string) *loginProvider {
	t.Helper()
	stdout, stderr := startNodeService(t, "login_provider.mjs", environ(append([]string{"USER_SUB=" + loginSub, "USER_EMAIL=" + loginEmail}, env...)...))
	p := &loginProvider{tokens: map[string][]string{}, more: make(chan struct{}, 1)}
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line struct {
				Issuer      string `json:"issuer"`
				GrantType   string `json:"grant_type"`
				AccessToken string `json:"access_token"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			if line.Issuer != "" {
				first <- line.Issuer
				continue
			}
			p.mu.Lock()
			p.tokens[line.GrantType] = append(p.tokens[line.GrantType], line.AccessToken)
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
	}()
	select {
	case p.issuer = <-first:
	case <-time.After(startTimeout):
		t.Fatalf("login_provider.mjs did not start within %s; stderr:\n%s", startTimeout, stderr.String())
	}
	return p
}

// accessTokens returns the n access tokens the provider issued for grant
// (authorization_code, refresh_token). They are printed before the token
// response is sent, so all of them are in once the calls are over; the wait
// only covers the reading of the pipe.
func (p *loginProvider) accessTokens(t *testing.T, grant string, n int) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		p.mu.Lock()
		got := slices.Clone(p.tokens[grant])
		p.mu.Unlock()
		if len(got) >= n {
			if len(got) > n {
				t.Errorf("the login provider issued %d tokens for %s, want %d", len(got), grant, n)
			}
			return got[:n]
		}
		select {
		case <-p.more:
		case <-deadline:
			t.Fatalf("the login provider issued %d tokens for %s, want %d", len(got), grant, n)
		}
	}
}

// userUpstream is an API that answers GET /user and records the
// Authorization header of every request.
type userUpstream struct {
	URL string

	mu    sync.Mutex
	auths []string
}

func startUserUpstream(t *testing.T) *userUpstream {
	t.Helper()
	u := &userUpstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.auths = append(u.auths, r.Header.Get("Authorization"))
		u.mu.Unlock()
		if r.Method != http.MethodGet || r.URL.Path != "/user" {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"login": "ada", "id": 1})
	}))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

func (u *userUpstream) authorizations() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.auths)
}

// clientDocument serves a client id metadata document over https (a test
// certificate, written to certFile for SSL_CERT_FILE).
type clientDocument struct {
	url      string
	certFile string

	mu sync.Mutex
	n  int
}

func startClientDocument(t *testing.T) *clientDocument {
	t.Helper()
	d := &clientDocument{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/e2e/client.json" {
			http.NotFound(w, r)
			return
		}
		d.mu.Lock()
		d.n++
		d.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{
			"client_id":                  d.url,
			"client_name":                "api2mcp e2e (metadata document)",
			"redirect_uris":              []string{"http://127.0.0.1:53682/e2e/callback"}, // as_client.mjs
			"grant_types":                []string{"authorization_code", "refresh_token"},
			"response_types":             []string{"code"},
			"token_endpoint_auth_method": "none",
		})
	}))
	t.Cleanup(srv.Close)
	d.url = srv.URL + "/e2e/client.json"
	d.certFile = filepath.Join(t.TempDir(), "client-doc.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(d.certFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *clientDocument) fetches() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}
