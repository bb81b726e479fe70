package authntest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Provider is a login provider for tests of the built-in authorization
// server: an OpenID Connect provider (discovery, JWKS, ID tokens signed
// with a real RSA key) that also answers GitHub's OAuth and API endpoints
// (/login/oauth/authorize, /login/oauth/access_token, /user, /user/orgs).
// Its /authorize logs the current user in at once and redirects back with a
// code, as a provider would after the user typed a password.
type Provider struct {
	*httptest.Server
	Issuer       string
	ClientID     string
	ClientSecret string

	key *rsa.PrivateKey

	mu        sync.Mutex
	user      ProviderUser
	orgs      []string
	fail      string // error sent back from /authorize instead of a code
	tokenTTL  time.Duration
	codes     map[string]providerCode
	access    map[string]ProviderUser
	refresh   map[string]ProviderUser
	seq       int
	refreshes int
}

// ProviderUser is who logs in at the provider.
type ProviderUser struct {
	ID            int64 // GitHub numeric id
	Sub           string
	Login         string
	Name          string
	Email         string
	EmailVerified bool
}

type providerCode struct {
	user      ProviderUser
	challenge string
	nonce     string
	redirect  string
}

// NewProvider starts a provider on 127.0.0.1, stopped when the test ends.
// Its user is octocat (GitHub id 583231, sub "user-583231",
// octocat@example.com verified), member of the org "api2mcp".
func NewProvider(tb testing.TB) *Provider {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	p := &Provider{
		ClientID: "provider-client", ClientSecret: "provider-secret-1234",
		key:  key,
		user: ProviderUser{ID: 583231, Sub: "user-583231", Login: "octocat", Name: "The Octocat", Email: "octocat@example.com", EmailVerified: true},
		orgs: []string{"api2mcp"}, tokenTTL: time.Hour,
		codes: map[string]providerCode{}, access: map[string]ProviderUser{}, refresh: map[string]ProviderUser{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("GET /login/oauth/authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("POST /login/oauth/access_token", p.token)
	mux.HandleFunc("GET /user", p.githubUser)
	mux.HandleFunc("GET /user/orgs", p.githubOrgs)
	p.Server = httptest.NewServer(mux)
	p.Issuer = p.URL
	tb.Cleanup(p.Close)
	return p
}

// SetUser changes who logs in next.
func (p *Provider) SetUser(u ProviderUser) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = u
}

// SetOrgs changes the organisations the user belongs to.
func (p *Provider) SetOrgs(orgs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.orgs = orgs
}

// Fail makes /authorize send the error code back instead of logging in
// ("" to log in again).
func (p *Provider) Fail(code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = code
}

// SetTokenTTL sets the lifetime of the access tokens issued next.
func (p *Provider) SetTokenTTL(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokenTTL = d
}

// Refreshes counts the refresh-token grants served.
func (p *Provider) Refreshes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refreshes
}

// UserOf returns who an access token the provider issued belongs to.
func (p *Provider) UserOf(token string) (ProviderUser, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.access[token]
	return u, ok
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                p.Issuer,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"jwks_uri":                              p.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	jwk, err := jwkset.NewJWKFromKey(p.key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "provider-key", ALG: jwkset.AlgRS256, USE: jwkset.UseSig}})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"keys": []any{jwk.Marshal()}})
}

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect := q.Get("redirect_uri")
	if q.Get("client_id") != p.ClientID || redirect == "" {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "PKCE S256 required", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	fail := p.fail
	v := url.Values{"state": {q.Get("state")}}
	if fail != "" {
		v.Set("error", fail)
	} else {
		p.seq++
		code := fmt.Sprintf("provider-code-%d", p.seq)
		p.codes[code] = providerCode{user: p.user, challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: redirect}
		v.Set("code", code)
	}
	p.mu.Unlock()
	http.Redirect(w, r, redirect+"?"+v.Encode(), http.StatusFound)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.ClientID || secret != p.ClientSecret {
		writeError(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var user ProviderUser
	var nonce string
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		c, ok := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		h := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(h[:]) != c.challenge || r.PostForm.Get("redirect_uri") != c.redirect {
			writeError(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		user, nonce = c.user, c.nonce
	case "refresh_token":
		u, ok := p.refresh[r.PostForm.Get("refresh_token")]
		if !ok {
			writeError(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		delete(p.refresh, r.PostForm.Get("refresh_token"))
		user = u
		p.refreshes++
	default:
		writeError(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	p.seq++
	at := fmt.Sprintf("provider-at-%d-%s", p.seq, strings.Repeat("x", 8))
	rt := fmt.Sprintf("provider-rt-%d", p.seq)
	p.access[at] = user
	p.refresh[rt] = user
	now := time.Now()
	claims := jwt.MapClaims{"iss": p.Issuer, "aud": p.ClientID, "sub": user.Sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"email": user.Email, "email_verified": user.EmailVerified, "name": user.Name, "preferred_username": user.Login}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = "provider-key"
	idt, err := tok.SignedString(p.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"access_token": at, "token_type": "bearer", "refresh_token": rt,
		"expires_in": int(p.tokenTTL / time.Second), "id_token": idt, "scope": "openid email profile"})
}

// bearerUser is who the request's bearer token belongs to.
func (p *Provider) bearerUser(r *http.Request) (ProviderUser, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ProviderUser{}, false
	}
	return p.UserOf(tok)
}

func (p *Provider) githubUser(w http.ResponseWriter, r *http.Request) {
	u, ok := p.bearerUser(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
		return
	}
	writeJSON(w, map[string]any{"id": u.ID, "login": u.Login, "name": u.Name, "email": u.Email})
}

func (p *Provider) githubOrgs(w http.ResponseWriter, r *http.Request) {
	if _, ok := p.bearerUser(r); !ok {
		writeError(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
		return
	}
	p.mu.Lock()
	orgs := make([]map[string]any, 0, len(p.orgs))
	for i, o := range p.orgs {
		orgs = append(orgs, map[string]any{"id": 9000 + i, "login": o})
	}
	p.mu.Unlock()
	writeJSON(w, orgs)
}

func writeError(w http.ResponseWriter, status int, body map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
