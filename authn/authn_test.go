package authn_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/api2mcp/api2mcp/authn"
	"github.com/api2mcp/api2mcp/authn/authntest"
)

const resource = "https://mcp.example.com"

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newAuthenticator(t *testing.T, spec authn.Spec, log *syncBuffer) *authn.Authenticator {
	t.Helper()
	a, err := authn.New(spec, resource, &authn.Options{
		Logger:          slog.New(slog.NewTextHandler(log, nil)),
		ScopesSupported: []string{"pets:write"},
		ResourceName:    "petstore",
	})
	if err != nil {
		t.Fatalf("authn.New: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}

// seen is what the protected handler got.
type seen struct {
	Subject string
	Scopes  []string
	Header  http.Header
}

func serve(a *authn.Authenticator, r *http.Request) (*httptest.ResponseRecorder, *seen) {
	var got *seen
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := authn.FromContext(r.Context())
		got = &seen{Header: r.Header.Clone()}
		if id != nil {
			got.Subject, got.Scopes = id.Subject, id.Scopes
		}
		w.WriteHeader(http.StatusOK)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec, got
}

const metaURL = `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"`

func TestOAuthBadInput(t *testing.T) {
	as := authntest.NewServer(t)
	rsa := as.NewKey(t, "RS256")
	ec := as.NewKey(t, "ES256")
	stranger := as.NewKey(t, "RS256") // never published
	as.Publish(rsa, ec)
	as.Opaque("opaque-active-token-1", map[string]any{"active": true, "sub": "svc", "scope": "mcp pets:read", "exp": float64(time.Now().Add(time.Hour).Unix()), "iss": as.Issuer})
	as.Opaque("opaque-revoked-token-1", map[string]any{"active": false})

	var logs syncBuffer
	a := newAuthenticator(t, authn.Spec{
		Mode:   authn.ModeOAuth,
		Scopes: []string{"mcp"},
		OAuth: authn.OAuthSpec{
			Issuer:        as.Issuer,
			Audiences:     []string{"api2mcp-alias"},
			Algorithms:    []string{"RS256", "ES256"},
			Introspection: authn.IntrospectionSpec{URL: as.URL + "/introspect", ClientID: authntest.ClientID, ClientSecret: authntest.ClientSecret},
		},
	}, &logs)

	valid := func() map[string]any { return as.Claims(resource, "alice", "mcp pets:read") }
	with := func(change func(map[string]any)) map[string]any {
		c := valid()
		change(c)
		return c
	}
	pubDER, err := x509.MarshalPKIXPublicKey(rsa.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	good := as.Sign(t, rsa, valid())
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64(t, with(func(c map[string]any) { c["sub"] = "admin" })) + "." + parts[2]

	invalid := func(desc string) []string {
		return []string{`Bearer error="invalid_token", error_description="` + desc + `", ` + metaURL + `, scope="mcp"`}
	}
	tests := map[string]struct {
		header  []string // Authorization values
		query   string
		status  int
		want    []string // WWW-Authenticate
		subject string
	}{
		"valid RS256":                  {header: []string{"Bearer " + good}, status: 200, subject: "alice"},
		"valid ES256":                  {header: []string{"Bearer " + as.Sign(t, ec, valid())}, status: 200, subject: "alice"},
		"scheme is case-insensitive":   {header: []string{"bearer " + good}, status: 200, subject: "alice"},
		"audience alias":               {header: []string{"Bearer " + as.Sign(t, rsa, with(func(c map[string]any) { c["aud"] = []any{"other", "api2mcp-alias"} }))}, status: 200, subject: "alice"},
		"audience with trailing slash": {header: []string{"Bearer " + as.Sign(t, rsa, with(func(c map[string]any) { c["aud"] = resource + "/" }))}, status: 200, subject: "alice"},
		"expired within leeway":        {header: []string{"Bearer " + as.Sign(t, rsa, with(func(c map[string]any) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }))}, status: 200, subject: "alice"},
		"opaque token introspected":    {header: []string{"Bearer opaque-active-token-1"}, status: 200, subject: "svc"},

		"missing token":             {status: 401, want: []string{`Bearer ` + metaURL + `, scope="mcp"`}},
		"wrong scheme":              {header: []string{"Basic YWxpY2U6cGFzcw=="}, status: 401, want: []string{`Bearer ` + metaURL + `, scope="mcp"`}},
		"malformed header":          {header: []string{"Bearer"}, status: 400, want: []string{`Bearer error="invalid_request", error_description="malformed Authorization header (want: Bearer <token>)", ` + metaURL + `, scope="mcp"`}},
		"two tokens":                {header: []string{"Bearer " + good + " " + good}, status: 400, want: []string{`Bearer error="invalid_request", error_description="malformed Authorization header (want: Bearer <token>)", ` + metaURL + `, scope="mcp"`}},
		"two headers":               {header: []string{"Bearer " + good, "Bearer " + good}, status: 400, want: []string{`Bearer error="invalid_request", error_description="more than one Authorization header", ` + metaURL + `, scope="mcp"`}},
		"token in the query":        {query: "access_token=" + good, status: 400, want: []string{`Bearer error="invalid_request", error_description="tokens are accepted only in the Authorization header", ` + metaURL + `, scope="mcp"`}},
		"expired":                   {header: []string{"Bearer " + as.Sign(t, rsa, with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))}, status: 401, want: invalid("the token has expired")},
		"without exp":               {header: []string{"Bearer " + as.Sign(t, rsa, with(func(c map[string]any) { delete(c, "exp") }))}, status: 401, want: invalid("the token lacks a required claim")},
		"not yet valid":             {header: []string{"Bearer " + as.Sign(t, rsa, with(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }))}, status: 401, want: invalid("the token is not valid yet")},
		"issued in the future":      {header: []string{"Bearer " + as.Sign(t, rsa, with(func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }))}, status: 401, want: invalid("the token is not valid yet")},
		"wrong issuer":              {header: []string{"Bearer " + as.Sign(t, rsa, with(func(c map[string]any) { c["iss"] = as.Issuer + "/other" }))}, status: 401, want: invalid("the token was issued by another issuer")},
		"issuer prefix":             {header: []string{"Bearer " + as.Sign(t, rsa, with(func(c map[string]any) { c["iss"] = as.Issuer + "/" }))}, status: 401, want: invalid("the token was issued by another issuer")},
		"wrong audience":            {header: []string{"Bearer " + as.Sign(t, rsa, with(func(c map[string]any) { c["aud"] = "https://other.example.com" }))}, status: 401, want: invalid("the token is not meant for this resource (audience)")},
		"no audience":               {header: []string{"Bearer " + as.Sign(t, rsa, with(func(c map[string]any) { delete(c, "aud") }))}, status: 401, want: invalid("the token lacks a required claim")},
		"unknown kid":               {header: []string{"Bearer " + as.Sign(t, stranger, valid())}, status: 401, want: invalid("the token is signed with an unknown key or algorithm")},
		"alg none":                  {header: []string{"Bearer " + as.SignNone(t, rsa, valid())}, status: 401, want: invalid("the token signature is invalid")},
		"HS256 with the public key": {header: []string{"Bearer " + as.SignHMAC(t, rsa, pubPEM, valid())}, status: 401, want: invalid("the token signature is invalid")},
		"HS256 with the key's DER":  {header: []string{"Bearer " + as.SignHMAC(t, rsa, pubDER, valid())}, status: 401, want: invalid("the token signature is invalid")},
		"tampered payload":          {header: []string{"Bearer " + tampered}, status: 401, want: invalid("the token signature is invalid")},
		"garbage JWT":               {header: []string{"Bearer aaa.bbb.ccc"}, status: 401, want: invalid("the token is malformed")},
		"revoked opaque token":      {header: []string{"Bearer opaque-revoked-token-1"}, status: 401, want: invalid("the token is not active")},
		"unknown opaque token":      {header: []string{"Bearer opaque-unknown-token"}, status: 401, want: invalid("the token is not active")},
		"missing base scope": {header: []string{"Bearer " + as.Sign(t, rsa, with(func(c map[string]any) { c["scope"] = "pets:read" }))}, status: 403,
			want: []string{`Bearer error="insufficient_scope", error_description="the token lacks a required scope", ` + metaURL + `, scope="mcp"`}},
	}
	var tokens []string
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/mcp?"+tt.query, strings.NewReader("{}"))
			for _, h := range tt.header {
				r.Header.Add("Authorization", h)
				tokens = append(tokens, strings.TrimPrefix(strings.TrimPrefix(h, "Bearer "), "bearer "))
			}
			rec, got := serve(a, r)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			if diff := cmp.Diff(tt.want, rec.Header().Values("WWW-Authenticate")); diff != "" {
				t.Errorf("WWW-Authenticate (-want +got):\n%s", diff)
			}
			if tt.status == 200 {
				if got == nil || got.Subject != tt.subject {
					t.Errorf("handler saw %+v, want subject %q", got, tt.subject)
				}
				return
			}
			if got != nil {
				t.Errorf("the protected handler ran")
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] == "" {
				t.Errorf("body %s is not an OAuth error: %v", rec.Body, err)
			}
			for _, tok := range tokens {
				if len(tok) > 16 && strings.Contains(rec.Body.String()+strings.Join(rec.Header().Values("WWW-Authenticate"), ""), tok) {
					t.Errorf("the response quotes the token")
				}
			}
		})
	}
	out := logs.String()
	if !strings.Contains(out, "auth_rejected") {
		t.Errorf("no auth_rejected log line:\n%s", out)
	}
	for _, tok := range tokens {
		if len(tok) > 8 && strings.Contains(out, tok) {
			t.Errorf("a token appears in the log:\n%s", out)
		}
		// Not even its signature or payload.
		for _, part := range strings.Split(tok, ".") {
			if len(part) > 16 && strings.Contains(out, part) {
				t.Errorf("part of a token appears in the log")
			}
		}
	}
}

// Introspection answers are cached until expiry (inactive ones briefly),
// keyed by the token's hash.
func TestIntrospectionCache(t *testing.T) {
	as := authntest.NewServer(t)
	as.Opaque("opaque-token-cached", map[string]any{"active": true, "sub": "svc", "scope": "mcp", "exp": float64(time.Now().Add(time.Hour).Unix())})
	as.Opaque("opaque-token-wrong-aud", map[string]any{"active": true, "sub": "svc", "aud": "https://elsewhere", "exp": float64(time.Now().Add(time.Hour).Unix())})
	as.Opaque("opaque-token-expired", map[string]any{"active": true, "sub": "svc", "exp": float64(time.Now().Add(-time.Minute).Unix())})
	var logs syncBuffer
	a := newAuthenticator(t, authn.Spec{Mode: authn.ModeOAuth, OAuth: authn.OAuthSpec{
		Issuer:        as.Issuer,
		Introspection: authn.IntrospectionSpec{URL: as.URL + "/introspect", ClientID: authntest.ClientID, ClientSecret: authntest.ClientSecret},
	}}, &logs)
	call := func(tok string) int {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		rec, _ := serve(a, r)
		return rec.Code
	}
	for i := range 3 {
		if got := call("opaque-token-cached"); got != 200 {
			t.Fatalf("call %d: status %d", i, got)
		}
		if got := call("opaque-revoked"); got != 401 {
			t.Fatalf("revoked call %d: status %d", i, got)
		}
	}
	if got := as.IntrospectionHits(); got != 2 {
		t.Errorf("introspection requests = %d, want 2 (one per token, then cached)", got)
	}
	if got := call("opaque-token-wrong-aud"); got != 401 {
		t.Errorf("wrong audience: status %d, want 401", got)
	}
	if got := call("opaque-token-expired"); got != 401 {
		t.Errorf("expired: status %d, want 401", got)
	}
	as.SetDown(true)
	if got := call("opaque-token-new"); got != http.StatusServiceUnavailable {
		t.Errorf("introspection down: status %d, want 503", got)
	}
	if !strings.Contains(logs.String(), "auth_introspection_failed") {
		t.Errorf("no log line for the failed introspection:\n%s", logs.String())
	}
}

// Keys rotate: a token signed with a key the set does not have yet makes it
// fetch the set again, at most once per unknown_kid_refresh.
func TestKeyRotation(t *testing.T) {
	as := authntest.NewServer(t)
	k1, k2, k3 := as.NewKey(t, "RS256"), as.NewKey(t, "ES256"), as.NewKey(t, "RS256")
	as.Publish(k1)
	var logs syncBuffer
	a := newAuthenticator(t, authn.Spec{Mode: authn.ModeOAuth, OAuth: authn.OAuthSpec{Issuer: as.Issuer, UnknownKIDRefresh: time.Hour}}, &logs)
	call := func(k *authntest.Key) int {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+as.Sign(t, k, as.Claims(resource, "alice", "")))
		rec, _ := serve(a, r)
		return rec.Code
	}
	if got := call(k1); got != 200 {
		t.Fatalf("k1: status %d", got)
	}
	hits := as.JWKSHits()
	as.Publish(k1, k2) // rotation: k2 is new
	if got := call(k2); got != 200 {
		t.Fatalf("k2 after rotation: status %d, want 200", got)
	}
	if got := as.JWKSHits(); got != hits+1 {
		t.Errorf("JWKS fetches after an unknown kid = %d, want %d", got, hits+1)
	}
	as.Publish(k1, k2, k3)
	for range 5 {
		if got := call(k3); got != 401 {
			t.Fatalf("k3 within the refresh interval: status %d, want 401 (rate-limited)", got)
		}
	}
	if got := as.JWKSHits(); got != hits+1 {
		t.Errorf("JWKS fetches = %d, want %d: unknown kids must not make it fetch again within unknown_kid_refresh", got, hits+1)
	}
}

// The issuer down at start: fail closed with 503, log it, never crash; and
// recover when it is back.
func TestJWKSDown(t *testing.T) {
	as := authntest.NewServer(t)
	k := as.NewKey(t, "RS256")
	as.Publish(k)
	as.SetDown(true)
	var logs syncBuffer
	a := newAuthenticator(t, authn.Spec{Mode: authn.ModeOAuth, OAuth: authn.OAuthSpec{Issuer: as.Issuer, JWKSURL: as.URL + "/jwks", UnknownKIDRefresh: time.Millisecond}}, &logs)
	tok := as.Sign(t, k, as.Claims(resource, "alice", ""))
	call := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		rec, _ := serve(a, r)
		return rec
	}
	rec := call()
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("JWKS down: status %d, want 503", rec.Code)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	if !strings.Contains(logs.String(), "auth_jwks_fetch_failed") {
		t.Errorf("no log line for the failed JWKS fetch:\n%s", logs.String())
	}
	as.SetDown(false)
	time.Sleep(5 * time.Millisecond) // let the unknown-kid limiter allow a fetch again
	if rec := call(); rec.Code != 200 {
		t.Errorf("JWKS back: status %d, want 200", rec.Code)
	}
	if strings.Contains(logs.String(), tok) {
		t.Errorf("the token appears in the log")
	}
}

func TestDiscoveryDown(t *testing.T) {
	as := authntest.NewServer(t)
	as.SetDown(true)
	var logs syncBuffer
	a := newAuthenticator(t, authn.Spec{Mode: authn.ModeOAuth, OAuth: authn.OAuthSpec{Issuer: as.Issuer}}, &logs)
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	r.Header.Set("Authorization", "Bearer a.b.c")
	rec, _ := serve(a, r)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
	if !strings.Contains(logs.String(), "auth_discovery_failed") {
		t.Errorf("no log line for the failed discovery:\n%s", logs.String())
	}
}

func TestAPIKeys(t *testing.T) {
	var logs syncBuffer
	a := newAuthenticator(t, authn.Spec{Mode: authn.ModeAPIKey, APIKeys: []authn.APIKeySpec{
		{Name: "ci-bot", Key: "ci-bot-key-0123456789", Scopes: []string{"pets:read"}},
		{Name: "admin", Key: "admin-key-0123456789", Scopes: []string{"pets:read", "pets:write"}},
	}}, &logs)
	tests := map[string]struct {
		header  string
		status  int
		want    string
		subject string
		scopes  []string
	}{
		"first key":  {header: "Bearer ci-bot-key-0123456789", status: 200, subject: "ci-bot", scopes: []string{"pets:read"}},
		"second key": {header: "Bearer admin-key-0123456789", status: 200, subject: "admin", scopes: []string{"pets:read", "pets:write"}},
		"wrong key":  {header: "Bearer ci-bot-key-0123456780", status: 401, want: `Bearer realm="api2mcp", error="invalid_token", error_description="unknown API key"`},
		"prefix":     {header: "Bearer ci-bot-key", status: 401, want: `Bearer realm="api2mcp", error="invalid_token", error_description="unknown API key"`},
		"missing":    {status: 401, want: `Bearer realm="api2mcp"`},
		"as basic":   {header: "Basic Y2ktYm90LWtleS0wMTIzNDU2Nzg5", status: 401, want: `Bearer realm="api2mcp"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			r.Header.Set("X-Forwarded-User", "root")
			rec, got := serve(a, r)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if g := rec.Header().Get("WWW-Authenticate"); g != tt.want {
				t.Errorf("WWW-Authenticate = %s, want %s", g, tt.want)
			}
			if tt.status != 200 {
				return
			}
			if got.Subject != tt.subject || !cmp.Equal(got.Scopes, tt.scopes) {
				t.Errorf("identity %s %v, want %s %v", got.Subject, got.Scopes, tt.subject, tt.scopes)
			}
			if got.Header.Get("X-Forwarded-User") != "" {
				t.Errorf("an inbound identity header reached the handler")
			}
		})
	}
	if strings.Contains(logs.String(), "key-0123456789") {
		t.Errorf("a key appears in the log:\n%s", logs.String())
	}
}

func TestModeNone(t *testing.T) {
	a := newAuthenticator(t, authn.Spec{}, &syncBuffer{})
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	r.Header.Set("X-Remote-User", "root")
	rec, got := serve(a, r)
	if rec.Code != 200 || got.Subject != "" {
		t.Errorf("mode none: status %d, identity %+v", rec.Code, got)
	}
	if got.Header.Get("X-Remote-User") != "" {
		t.Errorf("an inbound identity header reached the handler")
	}
	if a.MetadataPaths() != nil {
		t.Errorf("mode none serves metadata at %v", a.MetadataPaths())
	}
}

func TestMetadata(t *testing.T) {
	a := newAuthenticator(t, authn.Spec{Mode: authn.ModeOAuth, Scopes: []string{"mcp"}, OAuth: authn.OAuthSpec{Issuer: "https://id.example.com/realms/acme"}}, &syncBuffer{})
	want := []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"}
	if diff := cmp.Diff(want, a.MetadataPaths()); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	rec := httptest.NewRecorder()
	a.MetadataHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, want[1], nil))
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	wantDoc := map[string]any{
		"resource":                 resource,
		"authorization_servers":    []any{"https://id.example.com/realms/acme"},
		"scopes_supported":         []any{"mcp", "pets:write"},
		"bearer_methods_supported": []any{"header"},
		"resource_name":            "petstore",
	}
	if diff := cmp.Diff(wantDoc, doc); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("metadata is not readable cross-origin")
	}
}

func b64(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
