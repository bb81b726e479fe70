package authn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/api2mcp/api2mcp/authn"
	"github.com/api2mcp/api2mcp/authn/authntest"
	"github.com/api2mcp/api2mcp/authn/store"
	"github.com/api2mcp/api2mcp/internal/redistest"
)

// The front door alone, per request, against mode none in the same run:
//
//	go test ./authn -run '^$' -bench Middleware -benchmem
//
// JWT is an RS256 token verified against a cached key set; Introspected is
// an opaque token answered from the introspection cache.
func BenchmarkMiddlewareNone(b *testing.B) {
	benchMiddleware(b, authn.Spec{}, "")
}

func BenchmarkMiddlewareAPIKey(b *testing.B) {
	keys := []authn.APIKeySpec{{Name: "a", Key: "bench-key-a-0123456789"}, {Name: "b", Key: "bench-key-b-0123456789"}}
	benchMiddleware(b, authn.Spec{Mode: authn.ModeAPIKey, APIKeys: keys}, "bench-key-b-0123456789")
}

func BenchmarkMiddlewareJWT(b *testing.B) {
	as := authntest.NewServer(b)
	k := as.NewKey(b, "RS256")
	as.Publish(k)
	benchMiddleware(b, authn.Spec{Mode: authn.ModeOAuth, OAuth: authn.OAuthSpec{Issuer: as.Issuer}}, as.Sign(b, k, as.Claims(resource, "bench", "mcp")))
}

func BenchmarkMiddlewareJWTES256(b *testing.B) {
	as := authntest.NewServer(b)
	k := as.NewKey(b, "ES256")
	as.Publish(k)
	benchMiddleware(b, authn.Spec{Mode: authn.ModeOAuth, OAuth: authn.OAuthSpec{Issuer: as.Issuer}}, as.Sign(b, k, as.Claims(resource, "bench", "mcp")))
}

func BenchmarkMiddlewareIntrospected(b *testing.B) {
	as := authntest.NewServer(b)
	as.Opaque("opaque-bench-token", map[string]any{"active": true, "sub": "bench", "scope": "mcp"})
	benchMiddleware(b, authn.Spec{Mode: authn.ModeOAuth, OAuth: authn.OAuthSpec{Issuer: as.Issuer,
		Introspection: authn.IntrospectionSpec{URL: as.URL + "/introspect", ClientID: authntest.ClientID, ClientSecret: authntest.ClientSecret}}}, "opaque-bench-token")
}

// BenchmarkMiddlewareAuthorizationServer is a token issued by the built-in
// authorization server, checked against its state store (two reads: the
// token's record and its grant's).
func BenchmarkMiddlewareAuthorizationServer(b *testing.B) {
	b.Run("file", func(b *testing.B) {
		st, err := store.OpenFile(b.TempDir()+"/auth.db", nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		benchAS(b, st)
	})
	b.Run("redis", func(b *testing.B) {
		st, err := store.OpenRedis(context.Background(), redistest.URL(b), "bench:", nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		benchAS(b, st)
	})
}

func benchAS(b *testing.B, st store.Store) {
	h := newAS(b, st, nil)
	_, tok := h.fullLogin()
	req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	mw := h.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if authn.FromContext(r.Context()) == nil {
			b.Error("no identity")
		}
	}))
	rec := httptest.NewRecorder()
	mw.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	b.ResetTimer()
	for b.Loop() {
		mw.ServeHTTP(httptest.NewRecorder(), req)
	}
}

func benchMiddleware(b *testing.B, spec authn.Spec, token string) {
	a, err := authn.New(spec, resource, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if spec.Mode != "" && authn.FromContext(r.Context()) == nil {
			b.Error("no identity")
		}
	}))
	req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The first request fetches the keys (or the introspection answer).
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
