package authn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api2mcp/api2mcp/authn"
	"github.com/api2mcp/api2mcp/authn/authntest"
	"github.com/api2mcp/api2mcp/authn/store"
	"github.com/api2mcp/api2mcp/internal/redistest"
)

// asHarness is a built-in authorization server in front of a protected
// /mcp that echoes the caller, with a test login provider.
type asHarness struct {
	t        testing.TB
	srv      *httptest.Server
	auth     *authn.Authenticator
	provider *authntest.Provider
	store    store.Store
	clock    *testClock
	logs     *bytes.Buffer
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testKey is a 32-byte encryption key in base64.
var testKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

// newAS starts a harness; edit adjusts the spec (provider github by
// default, user 583231 allowed).
func newAS(t testing.TB, st store.Store, edit func(*authn.Spec, *authntest.Provider), opts ...func(*authn.Options)) *asHarness {
	t.Helper()
	p := authntest.NewProvider(t)
	h := &asHarness{t: t, provider: p, store: st, clock: &testClock{now: time.Now()}, logs: &bytes.Buffer{}}
	spec := authn.Spec{
		Mode:   authn.ModeAuthorizationServer,
		Scopes: []string{"mcp"},
		AuthorizationServer: authn.ASSpec{
			EncryptionKey: testKey,
			Login: authn.LoginSpec{
				Provider: authn.ProviderGitHub, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
				AllowedUsers: []string{"583231"},
				AuthURL:      p.URL + "/login/oauth/authorize", TokenURL: p.URL + "/login/oauth/access_token", APIURL: p.URL,
			},
		},
	}
	if edit != nil {
		edit(&spec, p)
	}
	h.srv = httptest.NewUnstartedServer(nil)
	resource := "http://" + h.srv.Listener.Addr().String()
	o := &authn.Options{Store: st, Now: h.clock.Now, Logger: slog.New(slog.NewTextHandler(syncWriter{h.logs, &sync.Mutex{}}, nil)), ScopesSupported: []string{"pets:read"}}
	for _, f := range opts {
		f(o)
	}
	a, err := authn.New(spec, resource, o)
	if err != nil {
		t.Fatalf("authn.New: %v", err)
	}
	h.auth = a
	mux := http.NewServeMux()
	for path, hd := range a.Routes() {
		mux.Handle(path, hd)
	}
	for _, path := range a.MetadataPaths() {
		mux.Handle(path, a.MetadataHandler())
	}
	mux.Handle("/mcp", a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := authn.FromContext(r.Context())
		tok, err := a.UpstreamToken(r.Context(), id)
		json.NewEncoder(w).Encode(map[string]any{"sub": id.Subject, "scopes": id.Scopes, "claims": id.Claims, "upstream_token": tok, "upstream_err": errString(err)})
	})))
	h.srv.Config.Handler = mux
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	t.Cleanup(a.Close)
	return h
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

type syncWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// appRedirect is the redirect URI the test clients register: a loopback
// callback that nothing listens on (the browser stops before it).
const appRedirect = "http://127.0.0.1:49152/callback"

// register registers a public client dynamically.
func (h *asHarness) register(redirects ...string) string {
	h.t.Helper()
	if len(redirects) == 0 {
		redirects = []string{appRedirect}
	}
	body, _ := json.Marshal(map[string]any{"redirect_uris": redirects, "client_name": "Test App", "token_endpoint_auth_method": "none"})
	resp, err := http.Post(h.srv.URL+"/register", "application/json", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("register: HTTP %d %v", resp.StatusCode, out)
	}
	return out["client_id"].(string)
}

// pkce returns a verifier and its S256 challenge.
func pkce(seed string) (verifier, challenge string) { return authntest.PKCE(seed) }

type browser = authntest.Browser

func newBrowser(t testing.TB) *browser {
	return authntest.NewBrowser(t, "http://127.0.0.1:49152/")
}

func consentID(t testing.TB, s authntest.Step) string { return authntest.ConsentID(t, s) }

// authorizeURL builds an authorization request.
func (h *asHarness) authorizeURL(clientID, redirect, challenge string, extra url.Values) string {
	v := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"app-state-1"}, "resource": {h.srv.URL + "/mcp"}}
	for k, vals := range extra {
		if len(vals) == 0 || vals[0] == "" && k != "state" {
			v.Del(k)
			continue
		}
		v[k] = vals
	}
	return h.srv.URL + "/authorize?" + v.Encode()
}

// login runs a browser through authorize → provider → consent → approve
// and returns the code.
func (h *asHarness) login(b *browser, clientID, redirect, challenge string) string {
	h.t.Helper()
	page := b.Get(h.authorizeURL(clientID, redirect, challenge, nil))
	id := consentID(h.t, page)
	done := b.Post(h.srv.URL+"/consent", url.Values{"consent": {id}, "action": {"approve"}})
	if done.Status != http.StatusSeeOther || done.Location == nil {
		h.t.Fatalf("consent: want 303 to the app, got %d %.300s", done.Status, done.Body)
	}
	q := done.Location.Query()
	if q.Get("state") != "app-state-1" || q.Get("iss") != h.srv.URL || q.Get("code") == "" {
		h.t.Fatalf("authorization response: %s (want code, state app-state-1, iss %s)", done.Location, h.srv.URL)
	}
	return q.Get("code")
}

// token posts to the token endpoint.
func (h *asHarness) token(form url.Values) (int, map[string]any) {
	h.t.Helper()
	resp, err := http.PostForm(h.srv.URL+"/token", form)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		h.t.Errorf("token response Cache-Control %q, want no-store", cc)
	}
	return resp.StatusCode, out
}

func (h *asHarness) redeem(clientID, code, verifier string) (int, map[string]any) {
	return h.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID}, "code": {code},
		"redirect_uri": {appRedirect}, "code_verifier": {verifier}, "resource": {h.srv.URL + "/mcp"}})
}

// call calls /mcp with a token: the status and the echoed identity.
func (h *asHarness) call(token string) (int, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// clientOf is the client id an access token was issued to.
func (h *asHarness) clientOf(tok map[string]any) string {
	h.t.Helper()
	_, who := h.call(tok["access_token"].(string))
	claims, _ := who["claims"].(map[string]any)
	id, _ := claims["client_id"].(string)
	return id
}

// fullLogin registers a client, logs in and redeems the code.
func (h *asHarness) fullLogin() (clientID string, tokens map[string]any) {
	h.t.Helper()
	clientID = h.register()
	verifier, challenge := pkce("a")
	code := h.login(newBrowser(h.t), clientID, appRedirect, challenge)
	status, tokens := h.redeem(clientID, code, verifier)
	if status != http.StatusOK {
		h.t.Fatalf("token: HTTP %d %v", status, tokens)
	}
	return clientID, tokens
}

// stores runs a test against each state store: the embedded file store
// and Redis (when a redis-server is available).
func stores(t *testing.T, run func(t *testing.T, st store.Store)) {
	t.Run("file", func(t *testing.T) {
		st, err := store.OpenFile(t.TempDir()+"/auth.db", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		run(t, st)
	})
	t.Run("redis", func(t *testing.T) {
		url := redistest.URL(t)
		st, err := store.OpenRedis(context.Background(), url, "test:"+strings.ReplaceAll(t.Name(), "/", ":")+":", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		run(t, st)
	})
}

func TestASFullFlow(t *testing.T) {
	stores(t, func(t *testing.T, base store.Store) {
		st := &recordingStore{Store: base}
		h := newAS(t, st, nil)
		clientID, tok := h.fullLogin()
		at, rt := tok["access_token"].(string), tok["refresh_token"].(string)
		if !strings.HasPrefix(at, "a2m_at_") || !strings.HasPrefix(rt, "a2m_rt_") || tok["token_type"] != "Bearer" || tok["scope"] != "mcp pets:read" {
			t.Fatalf("token response: %v", tok)
		}
		status, who := h.call(at)
		if status != http.StatusOK || who["sub"] != "github:583231" {
			t.Fatalf("call: HTTP %d %v", status, who)
		}
		claims := who["claims"].(map[string]any)
		if claims["login"] != "octocat" || claims["client_id"] != clientID || claims["provider"] != "github" {
			t.Errorf("claims: %v", claims)
		}
		// The user's provider token is the upstream credential.
		if u, ok := h.provider.UserOf(who["upstream_token"].(string)); !ok || u.ID != 583231 {
			t.Errorf("upstream token %q is not the user's provider token (%v)", who["upstream_token"], who["upstream_err"])
		}
		// Only hashes are stored: no token, code or provider token
		// appears in the store's keys or values.
		if len(st.written) < 8 {
			t.Fatalf("the recording store saw %d writes", len(st.written)/2)
		}
		for _, secret := range []string{at, rt, who["upstream_token"].(string), "provider-rt-"} {
			if st.holds(secret) {
				t.Errorf("the store holds a token in clear: %.12s…", secret)
			}
		}

		// Refresh: a new pair, the old refresh token used up.
		status, tok2 := h.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {rt}})
		if status != http.StatusOK || tok2["refresh_token"] == rt || tok2["access_token"] == at {
			t.Fatalf("refresh: HTTP %d %v", status, tok2)
		}
		if status, _ := h.call(tok2["access_token"].(string)); status != http.StatusOK {
			t.Fatalf("call with the refreshed token: HTTP %d", status)
		}
		// Reuse of the old refresh token revokes the whole grant.
		status, reuse := h.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {rt}})
		if status != http.StatusBadRequest || reuse["error"] != "invalid_grant" {
			t.Fatalf("refresh reuse: HTTP %d %v", status, reuse)
		}
		for _, a := range []string{at, tok2["access_token"].(string)} {
			if status, _ := h.call(a); status != http.StatusUnauthorized {
				t.Errorf("after refresh reuse an access token still works: HTTP %d", status)
			}
		}
		if status, _ := h.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {tok2["refresh_token"].(string)}}); status != http.StatusBadRequest {
			t.Errorf("after refresh reuse the newest refresh token still works: HTTP %d", status)
		}
		if !strings.Contains(h.logs.String(), "auth_refresh_reuse") {
			t.Errorf("no auth_refresh_reuse log line")
		}
		for _, secret := range []string{at, rt} {
			if strings.Contains(h.logs.String(), secret) {
				t.Errorf("a token is in the log")
			}
		}
	})
}

// recordingStore records every key and value written through it.
type recordingStore struct {
	store.Store
	mu      sync.Mutex
	written []string
}

func (r *recordingStore) Put(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	r.mu.Lock()
	r.written = append(r.written, k, string(v))
	r.mu.Unlock()
	return r.Store.Put(ctx, k, v, ttl)
}

func (r *recordingStore) Swap(ctx context.Context, k string, v []byte) ([]byte, error) {
	r.mu.Lock()
	r.written = append(r.written, k, string(v))
	r.mu.Unlock()
	return r.Store.Swap(ctx, k, v)
}

// holds reports whether anything written contains secret.
func (r *recordingStore) holds(secret string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.written {
		if strings.Contains(w, secret) {
			return true
		}
	}
	return false
}

func TestASMetadata(t *testing.T) {
	h := newAS(t, newMemStore(), nil)
	resp, err := http.Get(h.srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md map[string]any
	json.NewDecoder(resp.Body).Decode(&md)
	if md["issuer"] != h.srv.URL || md["authorization_endpoint"] != h.srv.URL+"/authorize" || md["token_endpoint"] != h.srv.URL+"/token" ||
		md["registration_endpoint"] != h.srv.URL+"/register" || md["revocation_endpoint"] != h.srv.URL+"/revoke" ||
		md["authorization_response_iss_parameter_supported"] != true || md["client_id_metadata_document_supported"] != true {
		t.Errorf("metadata: %v", md)
	}
	if m, _ := json.Marshal(md["code_challenge_methods_supported"]); string(m) != `["S256"]` {
		t.Errorf("code_challenge_methods_supported %s, want only S256", m)
	}
	// The protected-resource metadata points at this server.
	resp2, err := http.Get(h.srv.URL + "/.well-known/oauth-protected-resource")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var prm map[string]any
	json.NewDecoder(resp2.Body).Decode(&prm)
	if servers, _ := json.Marshal(prm["authorization_servers"]); string(servers) != `["`+h.srv.URL+`"]` {
		t.Errorf("protected resource metadata: %v", prm)
	}
}

// TestASBadAuthorizationRequests: a bad client or redirect URI gets a page
// and no redirect; other bad requests go back to the (checked) redirect URI
// with an error, and never yield a code.
func TestASBadAuthorizationRequests(t *testing.T) {
	h := newAS(t, newMemStore(), nil)
	clientID := h.register(appRedirect, "https://app.example.com/cb")
	_, challenge := pkce("b")
	pageCases := []struct {
		name  string
		extra url.Values
	}{
		{"unregistered client", url.Values{"client_id": {"a2m_client_nope"}}},
		{"missing client", url.Values{"client_id": {""}}},
		{"mismatched redirect", url.Values{"redirect_uri": {"https://evil.example.com/cb"}}},
		{"redirect with extra path", url.Values{"redirect_uri": {"https://app.example.com/cb/../evil"}}},
		{"redirect with another host on loopback port", url.Values{"redirect_uri": {"http://127.0.0.2:49152/callback"}}},
		{"redirect prefix", url.Values{"redirect_uri": {"https://app.example.com/cbx"}}},
		{"no redirect with two registered", url.Values{"redirect_uri": {""}}},
	}
	for _, c := range pageCases {
		t.Run(c.name, func(t *testing.T) {
			redirect := appRedirect
			s := newBrowser(t).Get(h.authorizeURL(clientID, redirect, challenge, c.extra))
			if s.Status != http.StatusBadRequest || s.Location != nil {
				t.Fatalf("want 400 without a redirect, got %d Location %v", s.Status, s.Location)
			}
			if !strings.Contains(s.Body, "<h1>") {
				t.Errorf("no error page: %.200s", s.Body)
			}
		})
	}
	backCases := []struct {
		name  string
		extra url.Values
		want  string
	}{
		{"missing PKCE", url.Values{"code_challenge": {""}, "code_challenge_method": {""}}, "invalid_request"},
		{"plain PKCE", url.Values{"code_challenge_method": {"plain"}}, "invalid_request"},
		{"malformed challenge", url.Values{"code_challenge": {"short"}}, "invalid_request"},
		{"token response type", url.Values{"response_type": {"token"}}, "unsupported_response_type"},
		{"wrong resource", url.Values{"resource": {"https://other.example.com/mcp"}}, "invalid_target"},
		{"resource on another port", url.Values{"resource": {"http://127.0.0.1:1/mcp"}}, "invalid_target"},
		{"silent login", url.Values{"prompt": {"none"}}, "login_required"},
		{"fragment response mode", url.Values{"response_mode": {"fragment"}}, "invalid_request"},
	}
	// Errors before the user has done anything are shown, not sent back:
	// a redirect would make the server an open redirector.
	for _, c := range backCases {
		t.Run(c.name, func(t *testing.T) {
			s := newBrowser(t).Get(h.authorizeURL(clientID, appRedirect, challenge, c.extra))
			if s.Status != http.StatusBadRequest || s.Location != nil || !strings.Contains(s.Body, c.want) {
				t.Errorf("got %d %v %.300s, want a 400 page naming %s and no redirect", s.Status, s.Location, s.Body, c.want)
			}
		})
	}
	t.Run("unknown scopes are not granted", func(t *testing.T) {
		verifier, challenge := pkce("s")
		b := newBrowser(t)
		back := b.Approve(h.authorizeURL(clientID, appRedirect, challenge, url.Values{"scope": {"openid pets:read admin"}}))
		status, tok := h.redeem(clientID, back.Query().Get("code"), verifier)
		if status != http.StatusOK || tok["scope"] != "pets:read" {
			t.Errorf("HTTP %d %v, want scope pets:read only", status, tok)
		}
	})
	t.Run("loopback redirect on another port", func(t *testing.T) {
		s := newBrowser(t).Get(h.authorizeURL(clientID, "http://127.0.0.1:50000/callback", challenge, nil))
		consentID(t, s)
	})
}

func TestASBadTokenRequests(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		h := newAS(t, st, nil)
		clientID := h.register()
		other := h.register()
		verifier, challenge := pkce("c")
		fresh := func() string { return h.login(newBrowser(t), clientID, appRedirect, challenge) }

		t.Run("wrong verifier", func(t *testing.T) {
			wrong, _ := pkce("z")
			if status, out := h.redeem(clientID, fresh(), wrong); status != http.StatusBadRequest || out["error"] != "invalid_grant" || out["access_token"] != nil {
				t.Errorf("HTTP %d %v", status, out)
			}
		})
		t.Run("missing verifier", func(t *testing.T) {
			if status, out := h.redeem(clientID, fresh(), ""); status != http.StatusBadRequest || out["access_token"] != nil {
				t.Errorf("HTTP %d %v", status, out)
			}
		})
		t.Run("code of another client", func(t *testing.T) {
			if status, out := h.redeem(other, fresh(), verifier); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
				t.Errorf("HTTP %d %v", status, out)
			}
		})
		t.Run("replayed code", func(t *testing.T) {
			code := fresh()
			if status, _ := h.redeem(clientID, code, verifier); status != http.StatusOK {
				t.Fatalf("first use: HTTP %d", status)
			}
			if status, out := h.redeem(clientID, code, verifier); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
				t.Errorf("replay: HTTP %d %v", status, out)
			}
		})
		t.Run("wrong redirect_uri", func(t *testing.T) {
			status, out := h.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID}, "code": {fresh()},
				"redirect_uri": {"http://127.0.0.1:49152/other"}, "code_verifier": {verifier}})
			if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
				t.Errorf("HTTP %d %v", status, out)
			}
		})
		t.Run("wrong resource", func(t *testing.T) {
			status, out := h.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID}, "code": {fresh()},
				"redirect_uri": {appRedirect}, "code_verifier": {verifier}, "resource": {"https://other.example.com"}})
			if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
				t.Errorf("HTTP %d %v", status, out)
			}
		})
		t.Run("expired code", func(t *testing.T) {
			if st, ok := h.store.(*memStore); ok {
				code := fresh()
				st.clock = h.clock
				h.clock.Advance(2 * time.Minute)
				defer h.clock.Advance(-2 * time.Minute)
				if status, out := h.redeem(clientID, code, verifier); status != http.StatusBadRequest {
					t.Errorf("HTTP %d %v", status, out)
				}
			}
		})
		t.Run("unknown client", func(t *testing.T) {
			if status, out := h.redeem("a2m_client_nope", fresh(), verifier); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
				t.Errorf("HTTP %d %v", status, out)
			}
		})
		t.Run("unsupported grant", func(t *testing.T) {
			if status, out := h.token(url.Values{"grant_type": {"password"}, "client_id": {clientID}}); status != http.StatusBadRequest || out["error"] != "unsupported_grant_type" {
				t.Errorf("HTTP %d %v", status, out)
			}
		})
		t.Run("refresh of another client", func(t *testing.T) {
			_, tok := h.redeem(clientID, fresh(), verifier)
			status, out := h.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {other}, "refresh_token": {tok["refresh_token"].(string)}})
			if status != http.StatusBadRequest || out["access_token"] != nil {
				t.Errorf("HTTP %d %v", status, out)
			}
		})
	})
}

func TestASExpiredAccessToken(t *testing.T) {
	h := newAS(t, newMemStore(), nil)
	_, tok := h.fullLogin()
	h.clock.Advance(time.Hour + time.Second)
	status, _ := h.call(tok["access_token"].(string))
	if status != http.StatusUnauthorized {
		t.Errorf("expired access token: HTTP %d, want 401", status)
	}
	if status, _ := h.call("a2m_at_forged"); status != http.StatusUnauthorized {
		t.Errorf("forged access token: HTTP %d, want 401", status)
	}
}

// TestASStateAndConsent: the callback and the consent need the browser that
// started the login.
func TestASStateAndConsent(t *testing.T) {
	h := newAS(t, newMemStore(), nil)
	clientID := h.register()
	_, challenge := pkce("d")

	t.Run("forged state", func(t *testing.T) {
		s := newBrowser(t).Get(h.srv.URL + "/callback?code=x&state=forged")
		if s.Status != http.StatusBadRequest || s.Location != nil {
			t.Errorf("HTTP %d %v", s.Status, s.Location)
		}
	})
	t.Run("missing state", func(t *testing.T) {
		s := newBrowser(t).Get(h.srv.URL + "/callback?code=x")
		if s.Status != http.StatusBadRequest || s.Location != nil {
			t.Errorf("HTTP %d %v", s.Status, s.Location)
		}
	})
	t.Run("callback in another browser", func(t *testing.T) {
		// The victim's browser starts a login; the provider's answer is
		// replayed in the attacker's browser, without the login cookie.
		victim := newBrowser(t)
		victim.Client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == "/callback" {
				return http.ErrUseLastResponse
			}
			return nil
		}
		s := victim.Get(h.authorizeURL(clientID, appRedirect, challenge, nil))
		if s.Location == nil || s.Location.Path != "/callback" {
			t.Fatalf("want the provider's redirect to /callback, got %d %v", s.Status, s.Location)
		}
		attacker := newBrowser(t)
		got := attacker.Get(s.Location.String())
		if got.Status != http.StatusBadRequest || got.Location != nil {
			t.Errorf("callback without the cookie: HTTP %d %v", got.Status, got.Location)
		}
	})
	t.Run("consent without its cookie", func(t *testing.T) {
		b := newBrowser(t)
		id := consentID(t, b.Get(h.authorizeURL(clientID, appRedirect, challenge, nil)))
		// A cross-site form post carries no SameSite=Lax cookie.
		forged := newBrowser(t).Post(h.srv.URL+"/consent", url.Values{"consent": {id}, "action": {"approve"}})
		if forged.Status != http.StatusForbidden || forged.Location != nil {
			t.Fatalf("forged consent: HTTP %d %v", forged.Status, forged.Location)
		}
		// The user's own answer still works.
		done := b.Post(h.srv.URL+"/consent", url.Values{"consent": {id}, "action": {"approve"}})
		if done.Location == nil || done.Location.Query().Get("code") == "" {
			t.Errorf("the user's consent after a forged one: %d %v", done.Status, done.Location)
		}
		// And only once.
		again := b.Post(h.srv.URL+"/consent", url.Values{"consent": {id}, "action": {"approve"}})
		if again.Location != nil {
			t.Errorf("a consent answered twice redirected to %v", again.Location)
		}
	})
	t.Run("deny", func(t *testing.T) {
		b := newBrowser(t)
		id := consentID(t, b.Get(h.authorizeURL(clientID, appRedirect, challenge, nil)))
		s := b.Post(h.srv.URL+"/consent", url.Values{"consent": {id}, "action": {"deny"}})
		if s.Location == nil || s.Location.Query().Get("error") != "access_denied" || s.Location.Query().Get("code") != "" {
			t.Errorf("deny: %d %v", s.Status, s.Location)
		}
	})
	t.Run("consent page shows the client and where the code goes", func(t *testing.T) {
		s := newBrowser(t).Get(h.authorizeURL(clientID, appRedirect, challenge, nil))
		for _, want := range []string{"Test App", "this computer (127.0.0.1)", "octocat"} {
			if !strings.Contains(s.Body, want) {
				t.Errorf("consent page lacks %q", want)
			}
		}
		// Not framable (clickjacking), not cached.
		if csp := s.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || s.Header.Get("X-Frame-Options") != "DENY" || s.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("consent page headers: %v", s.Header)
		}
	})
}

func TestASProviderRefusals(t *testing.T) {
	h := newAS(t, newMemStore(), nil)
	clientID := h.register()
	_, challenge := pkce("e")
	t.Run("provider error", func(t *testing.T) {
		h.provider.Fail("access_denied")
		defer h.provider.Fail("")
		s := newBrowser(t).Get(h.authorizeURL(clientID, appRedirect, challenge, nil))
		if s.Location == nil || s.Location.Query().Get("error") != "access_denied" || s.Location.Query().Get("code") != "" {
			t.Errorf("got %d %v", s.Status, s.Location)
		}
	})
	t.Run("user outside the allowed set", func(t *testing.T) {
		h.provider.SetUser(authntest.ProviderUser{ID: 1, Sub: "user-1", Login: "mallory", Email: "m@evil.example.com", EmailVerified: true})
		defer h.provider.SetUser(authntest.ProviderUser{ID: 583231, Sub: "user-583231", Login: "octocat", Email: "octocat@example.com", EmailVerified: true})
		s := newBrowser(t).Get(h.authorizeURL(clientID, appRedirect, challenge, nil))
		if s.Location == nil || s.Location.Query().Get("error") != "access_denied" || s.Location.Query().Get("code") != "" {
			t.Errorf("got %d %v", s.Status, s.Location)
		}
		if !strings.Contains(h.logs.String(), "user_not_allowed") {
			t.Error("no log line for the refused user")
		}
	})
	t.Run("renamed login does not matter", func(t *testing.T) {
		h.provider.SetUser(authntest.ProviderUser{ID: 583231, Sub: "user-583231", Login: "octocat-renamed"})
		defer h.provider.SetUser(authntest.ProviderUser{ID: 583231, Sub: "user-583231", Login: "octocat", Email: "octocat@example.com", EmailVerified: true})
		consentID(t, newBrowser(t).Get(h.authorizeURL(clientID, appRedirect, challenge, nil)))
	})
}

func TestASAllowedOrgsAndOIDC(t *testing.T) {
	t.Run("github org", func(t *testing.T) {
		h := newAS(t, newMemStore(), func(s *authn.Spec, p *authntest.Provider) {
			s.AuthorizationServer.Login.AllowedUsers = nil
			s.AuthorizationServer.Login.AllowedOrgs = []string{"API2MCP"}
		})
		clientID := h.register()
		_, challenge := pkce("f")
		consentID(t, newBrowser(t).Get(h.authorizeURL(clientID, appRedirect, challenge, nil)))
		h.provider.SetOrgs("other")
		s := newBrowser(t).Get(h.authorizeURL(clientID, appRedirect, challenge, nil))
		if s.Location == nil || s.Location.Query().Get("error") != "access_denied" {
			t.Errorf("non-member: %d %v", s.Status, s.Location)
		}
	})
	t.Run("oidc domain", func(t *testing.T) {
		h := newAS(t, newMemStore(), func(s *authn.Spec, p *authntest.Provider) {
			s.AuthorizationServer.Login = authn.LoginSpec{Provider: authn.ProviderOIDC, Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
				AllowedDomains: []string{"example.com"}}
		})
		_, tok := h.fullLogin()
		status, who := h.call(tok["access_token"].(string))
		if status != http.StatusOK || who["sub"] != "oidc:user-583231" {
			t.Fatalf("call: %d %v", status, who)
		}
		// An unverified email in the domain does not count.
		h.provider.SetUser(authntest.ProviderUser{Sub: "user-2", Email: "x@example.com", EmailVerified: false})
		clientID := h.register()
		_, challenge := pkce("g")
		s := newBrowser(t).Get(h.authorizeURL(clientID, appRedirect, challenge, nil))
		if s.Location == nil || s.Location.Query().Get("error") != "access_denied" {
			t.Errorf("unverified email: %d %v", s.Status, s.Location)
		}
	})
}

func TestASUpstreamTokenRefresh(t *testing.T) {
	h := newAS(t, newMemStore(), func(s *authn.Spec, p *authntest.Provider) {
		s.AuthorizationServer.Login = authn.LoginSpec{Provider: authn.ProviderOIDC, Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
			AllowedUsers: []string{"user-583231"}}
	})
	h.provider.SetTokenTTL(10 * time.Minute)
	_, tok := h.fullLogin()
	_, who := h.call(tok["access_token"].(string))
	first := who["upstream_token"].(string)
	h.provider.SetTokenTTL(time.Hour) // the refreshed token's
	h.clock.Advance(11 * time.Minute)
	_, who = h.call(tok["access_token"].(string))
	second, _ := who["upstream_token"].(string)
	if second == "" || second == first || h.provider.Refreshes() != 1 {
		t.Fatalf("after expiry: token %q (was %q), %d refreshes; err %v", second, first, h.provider.Refreshes(), who["upstream_err"])
	}
	if _, ok := h.provider.UserOf(second); !ok {
		t.Errorf("the refreshed token is not the provider's")
	}
	// The refreshed token is kept: no second refresh.
	h.call(tok["access_token"].(string))
	if h.provider.Refreshes() != 1 {
		t.Errorf("refreshed again: %d", h.provider.Refreshes())
	}
}

// TestASReplaysRevoke: a code or refresh token used twice revokes what the
// first use issued; a refused refresh can be retried.
func TestASReplaysRevoke(t *testing.T) {
	h := newAS(t, newMemStore(), nil)
	clientID := h.register()
	verifier, challenge := pkce("r")
	code := h.login(newBrowser(t), clientID, appRedirect, challenge)
	status, tok := h.redeem(clientID, code, verifier)
	if status != http.StatusOK {
		t.Fatalf("first redemption: %d %v", status, tok)
	}
	if status, out := h.redeem(clientID, code, verifier); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("replayed code: %d %v", status, out)
	}
	if status, _ := h.call(tok["access_token"].(string)); status != http.StatusUnauthorized {
		t.Errorf("the first redemption's token survived a code replay: HTTP %d", status)
	}

	_, tok = h.fullLogin()
	rt := tok["refresh_token"].(string)
	refresh := func(extra url.Values) (int, map[string]any) {
		v := url.Values{"grant_type": {"refresh_token"}, "client_id": {h.clientOf(tok)}, "refresh_token": {rt}}
		for k, x := range extra {
			v[k] = x
		}
		return h.token(v)
	}
	for _, bad := range []string{"admin", " "} {
		if status, out := refresh(url.Values{"scope": {bad}}); status != http.StatusBadRequest || out["error"] != "invalid_scope" {
			t.Errorf("refresh asking scope %q: %d %v", bad, status, out)
		}
	}
	// Narrowing gives a narrower access token; the grant keeps its scopes.
	status, narrow := refresh(url.Values{"scope": {"mcp"}})
	if status != http.StatusOK || narrow["scope"] != "mcp" {
		t.Fatalf("narrowing refresh (after refused ones): %d %v", status, narrow)
	}
	if _, who := h.call(narrow["access_token"].(string)); fmt.Sprint(who["scopes"]) != "[mcp]" {
		t.Errorf("narrowed token scopes %v", who["scopes"])
	}
	rt = narrow["refresh_token"].(string)
	if status, wide := refresh(nil); status != http.StatusOK || wide["scope"] != "mcp pets:read" {
		t.Errorf("refresh after narrowing: %d %v, want the grant's scopes again", status, wide)
	}
}

// TestASRefreshRacingRevocation: a refresh whose grant is revoked while it
// stores the new tokens withdraws them; the grant stays revoked.
func TestASRefreshRacingRevocation(t *testing.T) {
	st := &hookStore{Store: newMemStore()}
	h := newAS(t, st, nil)
	clientID, tok := h.fullLogin()
	var grantKey string
	for _, k := range st.keys() {
		if strings.HasPrefix(k, "grant:") {
			grantKey = k
		}
	}
	// The revocation lands between the refresh's read of the grant and
	// the end of its writes.
	st.onPut = func(key string) {
		if strings.HasPrefix(key, "rt:") {
			st.Store.Delete(context.Background(), grantKey)
		}
	}
	status, out := h.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {tok["refresh_token"].(string)}})
	st.onPut = nil
	if status == http.StatusOK {
		t.Fatalf("a refresh racing a revocation got tokens: %v", out)
	}
	if _, err := st.Get(context.Background(), grantKey); err == nil {
		t.Error("the revoked grant came back")
	}
}

// TestASLongSession: a login lasts session_ttl across refreshes, with the
// user's provider token, and not longer.
func TestASLongSession(t *testing.T) {
	st := newMemStore()
	h := newAS(t, st, nil)
	st.clock = h.clock
	clientID, tok := h.fullLogin()
	for day := 20; day <= 80; day += 20 {
		h.clock.Advance(20 * 24 * time.Hour)
		status, next := h.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {tok["refresh_token"].(string)}})
		if status != http.StatusOK {
			t.Fatalf("day %d refresh: %d %v", day, status, next)
		}
		tok = next
		if _, who := h.call(tok["access_token"].(string)); who["upstream_token"] == "" {
			t.Fatalf("day %d: no provider token (%v)", day, who["upstream_err"])
		}
	}
	h.clock.Advance(11 * 24 * time.Hour) // day 91
	if status, out := h.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {tok["refresh_token"].(string)}}); status == http.StatusOK {
		t.Errorf("a refresh after session_ttl: %v", out)
	}
}

// hookStore calls onPut before each Put.
type hookStore struct {
	store.Store
	onPut func(key string)
}

func (s *hookStore) Put(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	if s.onPut != nil {
		s.onPut(k)
	}
	return s.Store.Put(ctx, k, v, ttl)
}

func (s *hookStore) keys() []string {
	m := s.Store.(*memStore)
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.m {
		out = append(out, k)
	}
	return out
}

func TestASRevoke(t *testing.T) {
	h := newAS(t, newMemStore(), nil)
	clientID, tok := h.fullLogin()
	resp, err := http.PostForm(h.srv.URL+"/revoke", url.Values{"client_id": {clientID}, "token": {tok["refresh_token"].(string)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: HTTP %d", resp.StatusCode)
	}
	if status, _ := h.call(tok["access_token"].(string)); status != http.StatusUnauthorized {
		t.Errorf("access token after revoking its grant: HTTP %d", status)
	}
}

func TestASConfidentialClient(t *testing.T) {
	h := newAS(t, newMemStore(), nil)
	body, _ := json.Marshal(map[string]any{"redirect_uris": []string{appRedirect}, "token_endpoint_auth_method": "client_secret_basic"})
	resp, err := http.Post(h.srv.URL+"/register", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var reg map[string]any
	json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	clientID, secret := reg["client_id"].(string), reg["client_secret"].(string)
	verifier, challenge := pkce("h")
	code := h.login(newBrowser(t), clientID, appRedirect, challenge)
	// Without the secret: refused, and the code is used up.
	if status, out := h.redeem(clientID, code, verifier); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Errorf("without secret: HTTP %d %v", status, out)
	}
	code = h.login(newBrowser(t), clientID, appRedirect, challenge)
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/token", strings.NewReader(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {appRedirect}, "code_verifier": {verifier}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with secret: HTTP %d", resp.StatusCode)
	}
}

func TestASBadRegistrations(t *testing.T) {
	h := newAS(t, newMemStore(), nil)
	for name, body := range map[string]string{
		"no redirect":        `{"client_name":"x"}`,
		"javascript":         `{"redirect_uris":["javascript:alert(1)"]}`,
		"data":               `{"redirect_uris":["data:text/html,hi"]}`,
		"http not loopback":  `{"redirect_uris":["http://app.example.com/cb"]}`,
		"fragment":           `{"redirect_uris":["https://app.example.com/cb#x"]}`,
		"relative":           `{"redirect_uris":["/cb"]}`,
		"implicit grant":     `{"redirect_uris":["https://app.example.com/cb"],"grant_types":["implicit"]}`,
		"client_id supplied": `{"redirect_uris":["https://app.example.com/cb"],"client_id":"chosen"}`,
		"not json":           `redirect_uris=x`,
		"huge":               `{"redirect_uris":["https://app.example.com/cb"],"client_name":"` + strings.Repeat("x", 20000) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := http.Post(h.srv.URL+"/register", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode != http.StatusBadRequest || out["client_id"] != nil || out["error"] == nil {
				t.Errorf("HTTP %d %v", resp.StatusCode, out)
			}
		})
	}
}

// TestASClientMetadataDocuments: https client ids whose document is
// fetched, with its limits.
func TestASClientMetadataDocuments(t *testing.T) {
	var mu sync.Mutex
	docs := map[string]func(w http.ResponseWriter, r *http.Request, self string){}
	doc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		f := docs[r.URL.Path]
		mu.Unlock()
		if f == nil {
			http.NotFound(w, r)
			return
		}
		f(w, r, "https://"+r.Host+r.URL.Path)
	}))
	defer doc.Close()
	serve := func(path string, f func(w http.ResponseWriter, r *http.Request, self string)) string {
		mu.Lock()
		docs[path] = f
		mu.Unlock()
		return doc.URL + path
	}
	jsonDoc := func(v map[string]any) func(w http.ResponseWriter, r *http.Request, self string) {
		return func(w http.ResponseWriter, r *http.Request, self string) {
			if v["client_id"] == "self" {
				v["client_id"] = self
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(v)
		}
	}
	h := newAS(t, newMemStore(), func(s *authn.Spec, _ *authntest.Provider) {
		s.AuthorizationServer.AllowPrivateClientHosts = true
	}, func(o *authn.Options) { o.ClientDocTransport = doc.Client().Transport })
	verifier, challenge := pkce("i")

	good := serve("/good.json", jsonDoc(map[string]any{"client_id": "self", "client_name": "Doc App", "redirect_uris": []string{appRedirect}}))
	t.Run("valid document", func(t *testing.T) {
		page := newBrowser(t).Get(h.authorizeURL(good, appRedirect, challenge, nil))
		if !strings.Contains(page.Body, "Doc App") {
			t.Errorf("consent page does not name the client: %.300s", page.Body)
		}
		code := h.login(newBrowser(t), good, appRedirect, challenge)
		if status, out := h.redeem(good, code, verifier); status != http.StatusOK {
			t.Errorf("token: HTTP %d %v", status, out)
		}
	})
	bad := map[string]string{
		"mismatched client_id": serve("/mismatch.json", jsonDoc(map[string]any{"client_id": "https://other.example.com/app.json", "redirect_uris": []string{appRedirect}})),
		"huge":                 serve("/huge.json", jsonDoc(map[string]any{"client_id": "self", "redirect_uris": []string{appRedirect}, "client_name": strings.Repeat("x", 6000)})),
		"slow": serve("/slow.json", func(w http.ResponseWriter, r *http.Request, self string) {
			select {
			case <-time.After(8 * time.Second):
			case <-r.Context().Done():
			}
		}),
		"not json":        serve("/page.html", func(w http.ResponseWriter, r *http.Request, self string) { w.Write([]byte("<html>")) }),
		"with a secret":   serve("/secret.json", jsonDoc(map[string]any{"client_id": "self", "client_secret": "s3cret", "redirect_uris": []string{appRedirect}})),
		"no redirect":     serve("/noredirect.json", jsonDoc(map[string]any{"client_id": "self"})),
		"not found":       doc.URL + "/missing.json",
		"redirect away":   serve("/moved.json", func(w http.ResponseWriter, r *http.Request, self string) { http.Redirect(w, r, good, http.StatusFound) }),
		"not https":       strings.Replace(good, "https://", "http://", 1),
		"no path":         doc.URL,
		"with a fragment": good + "#x",
	}
	for name, id := range bad {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			s := newBrowser(t).Get(h.authorizeURL(id, appRedirect, challenge, nil))
			if s.Status != http.StatusBadRequest || s.Location != nil {
				t.Errorf("HTTP %d %v", s.Status, s.Location)
			}
			if time.Since(start) > 20*time.Second { // 5s fetch limit; generous under load
				t.Errorf("took %v: the fetch is not bounded", time.Since(start))
			}
		})
	}
	t.Run("private address refused by default", func(t *testing.T) {
		h2 := newAS(t, newMemStore(), nil)
		s := newBrowser(t).Get(h2.authorizeURL(good, appRedirect, challenge, nil))
		if s.Status != http.StatusBadRequest || s.Location != nil {
			t.Errorf("HTTP %d %v", s.Status, s.Location)
		}
		if !strings.Contains(s.Body, "443") {
			t.Errorf("the page does not say why: %.300s", s.Body)
		}
	})
}

func TestASConfigErrors(t *testing.T) {
	base := func() authn.Spec {
		return authn.Spec{Mode: authn.ModeAuthorizationServer, AuthorizationServer: authn.ASSpec{EncryptionKey: testKey,
			Login: authn.LoginSpec{Provider: "github", ClientID: "id", ClientSecret: "secret", AllowedUsers: []string{"1"}}}}
	}
	cases := []struct {
		name     string
		edit     func(*authn.Spec)
		resource string
		want     string
	}{
		{"no public url", func(*authn.Spec) {}, "", "needs server.public_url"},
		{"http public url", func(*authn.Spec) {}, "http://mcp.example.com", "must be https"},
		{"no key", func(s *authn.Spec) { s.AuthorizationServer.EncryptionKey = "" }, "https://mcp.example.com", "encryption_key: required"},
		{"short key", func(s *authn.Spec) { s.AuthorizationServer.EncryptionKey = "c2hvcnQ=" }, "https://mcp.example.com", "decodes to 5 bytes"},
		{"no allowed users", func(s *authn.Spec) { s.AuthorizationServer.Login.AllowedUsers = nil }, "https://mcp.example.com", "allow_any_user"},
		{"github login name", func(s *authn.Spec) { s.AuthorizationServer.Login.AllowedUsers = []string{"octocat"} }, "https://mcp.example.com", "not a GitHub numeric user id"},
		{"unknown provider", func(s *authn.Spec) { s.AuthorizationServer.Login.Provider = "gitlab" }, "https://mcp.example.com", `"gitlab" is not github, google or oidc`},
		{"oidc without issuer", func(s *authn.Spec) { s.AuthorizationServer.Login.Provider = "oidc" }, "https://mcp.example.com", "issuer: required"},
		{"section without mode", func(s *authn.Spec) { s.Mode = authn.ModeOAuth; s.OAuth.Issuer = "https://i.example.com" }, "https://mcp.example.com", "authorization_server: set, but mode is oauth"},
		{"no registration at all", func(s *authn.Spec) {
			f := false
			s.AuthorizationServer.DynamicRegistration, s.AuthorizationServer.ClientMetadataDocuments = &f, &f
		}, "https://mcp.example.com", "no client could ever register"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base()
			c.edit(&s)
			_, err := authn.New(s, c.resource, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") && strings.Contains(err.Error(), `"secret"`) {
				t.Errorf("the error quotes the client secret: %v", err)
			}
		})
	}
}

// memStore is an in-memory store.Store with an optional clock, for tests
// that move time.
type memStore struct {
	mu    sync.Mutex
	m     map[string]memEntry
	clock *testClock
}

type memEntry struct {
	v   []byte
	exp time.Time
}

func newMemStore() *memStore { return &memStore{m: map[string]memEntry{}} }

func (s *memStore) now() time.Time {
	if s.clock != nil {
		return s.clock.Now()
	}
	return time.Now()
}

func (s *memStore) Get(_ context.Context, k string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if !ok || !s.now().Before(e.exp) {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(e.v), nil
}

func (s *memStore) Put(_ context.Context, k string, v []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("ttl must be positive")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = memEntry{bytes.Clone(v), s.now().Add(ttl)}
	return nil
}

func (s *memStore) Take(ctx context.Context, k string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	delete(s.m, k)
	if !ok || !s.now().Before(e.exp) {
		return nil, store.ErrNotFound
	}
	return e.v, nil
}

func (s *memStore) Swap(_ context.Context, k string, v []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if !ok || !s.now().Before(e.exp) {
		return nil, store.ErrNotFound
	}
	s.m[k] = memEntry{bytes.Clone(v), e.exp}
	return e.v, nil
}

func (s *memStore) Delete(_ context.Context, k string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	return nil
}

func (s *memStore) Close() error { return nil }
