// Package authntest is an OAuth 2.0 authorization server for tests: it signs
// real JWTs with RSA and ECDSA keys, and serves its RFC 8414 metadata, its
// JWKS and RFC 7662 introspection on 127.0.0.1. Tests of packages authn,
// proxy and e2e use it as the issuer; nothing else should.
package authntest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Introspection client credentials the server expects (HTTP Basic).
const (
	ClientID     = "api2mcp-test"
	ClientSecret = "introspection-secret-42"
)

// Server is a running test authorization server; its URL is its issuer.
type Server struct {
	*httptest.Server
	Issuer string

	mu        sync.Mutex
	published []*Key
	opaque    map[string]map[string]any
	down      bool
	jwksHits  int
	introHits int
}

// Key is a signing key.
type Key struct {
	KID    string
	Alg    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.priv.Public() }

// NewServer starts a server on 127.0.0.1, stopped when the test ends.
func NewServer(tb testing.TB) *Server {
	s := &Server{opaque: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.metadata)
	mux.HandleFunc("GET /.well-known/openid-configuration", s.metadata)
	mux.HandleFunc("GET /jwks", s.jwks)
	mux.HandleFunc("POST /introspect", s.introspect)
	s.Server = httptest.NewServer(mux)
	s.Issuer = s.URL
	tb.Cleanup(s.Close)
	return s
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	if s.isDown() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, map[string]any{
		"issuer":                           s.Issuer,
		"jwks_uri":                         s.URL + "/jwks",
		"introspection_endpoint":           s.URL + "/introspect",
		"token_endpoint":                   s.URL + "/token",
		"authorization_endpoint":           s.URL + "/authorize",
		"response_types_supported":         []string{"code"},
		"code_challenge_methods_supported": []string{"S256"},
		"grant_types_supported":            []string{"authorization_code", "refresh_token"},
	})
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.jwksHits++
	down := s.down
	keys := append([]*Key(nil), s.published...)
	s.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, k := range keys {
		j, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.KID, ALG: jwkset.ALG(k.Alg), USE: jwkset.UseSig}})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	writeJSON(w, set)
}

func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.introHits++
	down := s.down
	s.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok || id != ClientID || secret != ClientSecret {
		http.Error(w, "bad client", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	answer, known := s.opaque[r.PostFormValue("token")]
	s.mu.Unlock()
	if !known {
		answer = map[string]any{"active": false}
	}
	writeJSON(w, answer)
}

func (s *Server) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

// SetDown makes every endpoint answer 503 (or not).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// NewKey makes a signing key: alg is RS256 or ES256. It is not published
// until Publish.
func (s *Server) NewKey(tb testing.TB, alg string) *Key {
	tb.Helper()
	k := &Key{KID: rand.Text()[:12], Alg: alg}
	var err error
	switch alg {
	case "RS256":
		k.method = jwt.SigningMethodRS256
		k.priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		k.method = jwt.SigningMethodES256
		k.priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		tb.Fatalf("authntest: unsupported alg %s", alg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// Publish replaces the key set the JWKS endpoint serves.
func (s *Server) Publish(keys ...*Key) {
	s.mu.Lock()
	s.published = keys
	s.mu.Unlock()
}

// Claims returns the claims of a valid access token for audience: this
// issuer, sub, scope, iat now and exp in an hour.
func (s *Server) Claims(audience, sub string, scope string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":   s.Issuer,
		"aud":   audience,
		"sub":   sub,
		"scope": scope,
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
	}
}

// Sign signs claims with k (kid in the header).
func (s *Server) Sign(tb testing.TB, k *Key, claims map[string]any) string {
	tb.Helper()
	tok := jwt.NewWithClaims(k.method, jwt.MapClaims(claims))
	tok.Header["kid"] = k.KID
	out, err := tok.SignedString(k.priv)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// SignNone makes an unsigned token (alg none) naming k's kid.
func (s *Server) SignNone(tb testing.TB, k *Key, claims map[string]any) string {
	tb.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(claims))
	tok.Header["kid"] = k.KID
	out, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// SignHMAC signs claims with HS256 using secret as the key, naming k's kid:
// with k's public key as the secret this is the algorithm-confusion attack.
func (s *Server) SignHMAC(tb testing.TB, k *Key, secret []byte, claims map[string]any) string {
	tb.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims))
	tok.Header["kid"] = k.KID
	out, err := tok.SignedString(secret)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// Opaque registers the introspection answer for an opaque token.
func (s *Server) Opaque(token string, answer map[string]any) {
	s.mu.Lock()
	s.opaque[token] = answer
	s.mu.Unlock()
}

// JWKSHits and IntrospectionHits count requests to those endpoints.
func (s *Server) JWKSHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jwksHits
}

// IntrospectionHits counts requests to the introspection endpoint.
func (s *Server) IntrospectionHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.introHits
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		panic(fmt.Sprintf("authntest: %v", err))
	}
}
