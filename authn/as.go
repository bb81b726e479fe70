package authn

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/api2mcp/api2mcp/authn/store"
)

// Lifetimes of the authorization server's records.
const (
	// DefaultAccessTokenTTL is an access token's lifetime.
	DefaultAccessTokenTTL = time.Hour
	// DefaultRefreshTokenTTL is a refresh token's lifetime.
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour
	// DefaultSessionTTL is how long a login lasts, however often its
	// tokens are refreshed.
	DefaultSessionTTL = 90 * 24 * time.Hour
	// codeTTL is an authorization code's lifetime (RFC 6749 §4.1.2
	// recommends at most ten minutes; clients redeem at once).
	codeTTL = time.Minute
	// loginTTL bounds a login, from /authorize to the consent answer.
	loginTTL = 10 * time.Minute
	// clientTTL is how long a registered client is kept after its last
	// authorization.
	clientTTL = 180 * 24 * time.Hour
	// accessCacheTTL bounds how long a checked access token is trusted
	// without reading the store again: a revocation made on another replica
	// takes effect within it (on this replica at once).
	accessCacheTTL = 5 * time.Second
	// accessCacheEntries bounds that cache.
	accessCacheEntries = 10000
)

// Token prefixes: they tell a leaked token's kind at a glance (and to
// secret scanners), and keep the tokens distinct from JWTs.
const (
	accessPrefix  = "a2m_at_"
	refreshPrefix = "a2m_rt_"
	codePrefix    = "a2m_ac_"
)

// Store keys, by record kind. Tokens and codes are keyed by their SHA-256,
// so that the store never holds one: a copy of it issues nothing.
const (
	keyClient  = "client:"
	keyLogin   = "login:"
	keyConsent = "consent:"
	keyCode    = "code:"
	keyGrant   = "grant:"
	keyUpToken = "uptoken:"
	keyAccess  = "at:"
	keyRefresh = "rt:"
)

// authServer is the built-in OAuth 2.1 authorization server of mode
// authorization_server.
type authServer struct {
	issuer     string // server.public_url without a trailing slash
	resource   string // server.public_url: the audience of every token
	store      store.Store
	ownStore   bool      // opened by Open: closed by close
	state      StateSpec // where Open finds the store
	login      provider
	aead       cipher.AEAD
	accessTTL  time.Duration
	refreshTTL time.Duration
	sessionTTL time.Duration
	dcr        bool
	clients    *clientResolver
	scopes     []string // every scope a client may ask for
	secure     bool     // cookies are Secure (public_url is https)
	now        func() time.Time
	log        *slog.Logger
	onEvent    func(event string)
	metadata   []byte

	// checked are access tokens recently found valid, by store key;
	// revoked are the grants revoked here in the last accessCacheTTL, which
	// a check that raced the revocation must not cache.
	mu      sync.Mutex
	checked map[string]checkedToken
	revoked map[string]time.Time

	// refreshing serialises provider-token refreshes, striped by grant.
	refreshing [16]sync.Mutex
	// registrations limits /register per client address.
	registrations *addrLimiter
}

// checkedToken is a cached check of an access token.
type checkedToken struct {
	id    *Identity
	until time.Time
}

// User is who logged in at the provider.
type User struct {
	// ID is the provider's stable id, prefixed by the provider:
	// github:583231, google:1084..., oidc:<sub>. Logins and emails can be
	// renamed; this cannot.
	ID       string `json:"id"`
	Provider string `json:"provider"`
	Login    string `json:"login,omitempty"`
	Name     string `json:"name,omitempty"`
	Email    string `json:"email,omitempty"`
}

// Records kept in the store, JSON-encoded.
type (
	// loginRecord is an authorization request between /authorize and the
	// provider's callback, keyed by the state sent to the provider.
	loginRecord struct {
		authRequest
		Browser  string `json:"browser"`  // SHA-256 of the browser's login cookie
		Cookie   string `json:"cookie"`   // the cookie's name
		Verifier string `json:"verifier"` // PKCE verifier towards the provider
		Nonce    string `json:"nonce,omitempty"`
	}
	// consentRecord is a logged-in user's pending answer, keyed by an id
	// the consent form carries.
	consentRecord struct {
		authRequest
		Browser string `json:"browser"`
		Cookie  string `json:"cookie"`
		User    User   `json:"user"`
		Token   []byte `json:"token"` // the provider token, encrypted
	}
	// authRequest is what the client asked for at /authorize, checked.
	authRequest struct {
		ClientID    string `json:"client_id"`
		ClientName  string `json:"client_name,omitempty"`
		RedirectURI string `json:"redirect_uri"`
		// RedirectGiven: the request named redirect_uri (else the one
		// registered was used, and /token may omit it too).
		RedirectGiven bool     `json:"redirect_given,omitempty"`
		State         string   `json:"state,omitempty"`
		Challenge     string   `json:"challenge"`
		Scopes        []string `json:"scopes"`
		Resource      string   `json:"resource"`
	}
	// codeRecord is an issued authorization code, keyed by its hash: the
	// grant it makes when redeemed (stored only then), and the user's
	// provider token, encrypted. A redeemed code becomes a used marker
	// holding the grant's id only.
	codeRecord struct {
		Grant         grantRecord `json:"grant"`
		RedirectURI   string      `json:"redirect_uri,omitempty"`
		RedirectGiven bool        `json:"redirect_given,omitempty"` // redirect_uri was sent to /authorize
		Challenge     string      `json:"challenge,omitempty"`
		Token         []byte      `json:"token,omitempty"`
		Used          bool        `json:"used,omitempty"`
	}
	// grantRecord is a user's authorization of a client. Deleting it
	// revokes every token issued under it.
	grantRecord struct {
		ID       string    `json:"id"`
		ClientID string    `json:"client_id"`
		User     User      `json:"user"`
		Scopes   []string  `json:"scopes"`
		Resource string    `json:"resource"`
		Created  time.Time `json:"created"`
		// Expires ends the login, however often its tokens are refreshed.
		Expires time.Time `json:"expires"`
	}
	// accessRecord is an issued access token, keyed by its hash.
	accessRecord struct {
		Grant   string    `json:"grant"`
		Scopes  []string  `json:"scopes"` // the grant's, or fewer (a narrowing refresh)
		Expires time.Time `json:"expires"`
	}
	// refreshRecord is an issued refresh token, keyed by its hash. Used is
	// set when it is redeemed; redeeming it again is a replay.
	refreshRecord struct {
		Grant    string `json:"grant"`
		ClientID string `json:"client_id"`
		Used     bool   `json:"used"`
	}
)

func newAuthServer(spec ASSpec, resource string, o *Options, fail func(field, format string, a ...any)) *authServer {
	s := &authServer{
		issuer:     strings.TrimSuffix(resource, "/"),
		resource:   resource,
		store:      o.Store,
		state:      spec.State,
		accessTTL:  spec.AccessTokenTTL,
		refreshTTL: spec.RefreshTokenTTL,
		dcr:        spec.DynamicRegistration == nil || *spec.DynamicRegistration,
		now:        o.Now,
		log:        o.Logger,
		onEvent:    o.OnEvent,
		sessionTTL: spec.SessionTTL,
		checked:    map[string]checkedToken{},
		revoked:    map[string]time.Time{},
	}
	s.registrations = newAddrLimiter(registrationsPerMinute, s.now)
	if s.accessTTL == 0 {
		s.accessTTL = DefaultAccessTokenTTL
	}
	if s.refreshTTL == 0 {
		s.refreshTTL = DefaultRefreshTokenTTL
	}
	if s.sessionTTL == 0 {
		s.sessionTTL = DefaultSessionTTL
	}
	if s.accessTTL < time.Second || s.accessTTL > 24*time.Hour {
		fail("authorization_server.access_token_ttl", "must be between 1s and 24h")
	}
	if s.refreshTTL < s.accessTTL {
		fail("authorization_server.refresh_token_ttl", "must be positive and at least access_token_ttl")
	}
	if s.sessionTTL < s.refreshTTL {
		fail("authorization_server.session_ttl", "must be at least refresh_token_ttl")
	}
	if resource == "" {
		fail("authorization_server", "mode authorization_server needs server.public_url: it is the issuer and the resource tokens are issued for")
	} else if u, err := url.Parse(resource); err == nil {
		s.secure = u.Scheme == "https"
		if u.Scheme != "https" && !isLoopbackHost(u.Hostname()) {
			fail("authorization_server", "server.public_url must be https (http is allowed only on a loopback host): tokens and login cookies travel over it")
		}
	}
	key, err := decodeKey(spec.EncryptionKey)
	if err != nil {
		fail("authorization_server.encryption_key", "%v", err)
	} else {
		block, _ := aes.NewCipher(key)
		s.aead, _ = cipher.NewGCM(block)
	}
	s.login = newProvider(spec.Login, s.issuer+"/callback", o, func(field, format string, a ...any) {
		fail("authorization_server.login."+field, format, a...)
	})
	cimd := spec.ClientMetadataDocuments == nil || *spec.ClientMetadataDocuments
	if !cimd && !s.dcr {
		fail("authorization_server", "dynamic_registration and client_metadata_documents are both off: no client could ever register")
	}
	s.clients = newClientResolver(s, cimd, spec.AllowPrivateClientHosts, o)
	if spec.State.File != "" && spec.State.Redis.URL != "" {
		fail("authorization_server.state", "set file or redis, not both")
	}
	return s
}

// open opens the state store the spec names, unless one was given.
func (s *authServer) open(ctx context.Context) error {
	if s.store != nil {
		return nil
	}
	var st store.Store
	var err error
	if s.state.Redis.URL != "" {
		prefix := s.state.Redis.Prefix
		if prefix == "" {
			prefix = "api2mcp:as:"
		}
		st, err = store.OpenRedis(ctx, s.state.Redis.URL, prefix, &store.Options{Logger: s.log})
	} else {
		path := s.state.File
		if path == "" {
			path = "api2mcp-auth.db"
		}
		st, err = store.OpenFile(path, &store.Options{Logger: s.log})
	}
	if err != nil {
		return fmt.Errorf("authorization server state: %w", err)
	}
	s.store, s.ownStore = st, true
	return nil
}

func (s *authServer) close() {
	if s.ownStore {
		s.store.Close()
	}
}

// decodeKey reads a 32-byte key in base64 (either alphabet, padded or
// not). The error never quotes the key.
func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("required: 32 random bytes in base64, written as ${VAR} or ${file:/path} (openssl rand -base64 32)")
	}
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("decodes to %d bytes, want 32 (openssl rand -base64 32)", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("is not base64 (openssl rand -base64 32)")
}

// finish prepares what needs every scope known: the RFC 8414 metadata.
func (s *authServer) finish(scopes []string) {
	s.scopes = scopes
	doc := map[string]any{
		"issuer":                                         s.issuer,
		"authorization_endpoint":                         s.issuer + "/authorize",
		"token_endpoint":                                 s.issuer + "/token",
		"revocation_endpoint":                            s.issuer + "/revoke",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          []string{"none", "client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":     []string{"none", "client_secret_basic", "client_secret_post"},
		"authorization_response_iss_parameter_supported": true,
		"client_id_metadata_document_supported":          s.clients.cimd,
	}
	if s.dcr {
		doc["registration_endpoint"] = s.issuer + "/register"
	}
	if len(scopes) > 0 {
		doc["scopes_supported"] = scopes
	}
	s.metadata, _ = json.Marshal(doc)
}

// routes are the authorization server's endpoints, by mux pattern.
func (s *authServer) routes() map[string]http.Handler {
	wk := "/.well-known/oauth-authorization-server"
	r := map[string]http.Handler{
		wk:           publicJSON(s.metadata),
		"/authorize": s.needStore(s.authorize),
		"/callback":  s.needStore(s.callback),
		"/consent":   s.needStore(s.consent),
		"/token":     cors(s.needStore(s.token)),
		"/revoke":    cors(s.needStore(s.revoke)),
	}
	if u, err := url.Parse(s.issuer); err == nil && u.Path != "" {
		// RFC 8414 §3: the path of the issuer follows the well-known part.
		r[wk+u.Path] = r[wk]
	}
	if s.dcr {
		r["/register"] = cors(s.needStore(s.register))
	}
	return r
}

// event tells OnEvent, if set.
func (s *authServer) event(name string) {
	if s.onEvent != nil {
		s.onEvent(name)
	}
}

// needStore answers 503 until the state is open (Authenticator.Open).
func (s *authServer) needStore(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.store == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable", "error_description": "the authorization state is not open"})
			return
		}
		h(w, r)
	})
}

// publicJSON serves a fixed JSON document any origin may read.
func publicJSON(doc []byte) http.Handler {
	return cors(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(doc)
	}))
}

// cors lets browser-based clients call an endpoint that takes no cookies
// (metadata, token, registration, revocation) from any origin.
func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// randomToken returns prefix + 32 random bytes in base64url.
func randomToken(prefix string) string {
	var b [32]byte
	rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// hashKey is the store key of a token: kind + hex SHA-256.
func hashKey(kind, token string) string {
	h := sha256.Sum256([]byte(token))
	return kind + hex.EncodeToString(h[:])
}

// sealJSON encrypts v for the record named by aad (so that a ciphertext
// cannot be moved to another record).
func (s *authServer) sealJSON(v any, aad string) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, []byte(aad)), nil
}

// openJSON decrypts what sealJSON made for aad into v.
func (s *authServer) openJSON(sealed []byte, aad string, v any) error {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return errors.New("sealed value too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(aad))
	if err != nil {
		return errors.New("cannot decrypt (wrong encryption_key?)")
	}
	return json.Unmarshal(plain, v)
}

// put stores v as JSON.
func (s *authServer) put(ctx context.Context, key string, v any, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.store.Put(ctx, key, b, ttl)
}

// get reads the JSON record at key into v; store.ErrNotFound when absent.
func (s *authServer) get(ctx context.Context, key string, v any) error {
	b, err := s.store.Get(ctx, key)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// take reads and deletes the JSON record at key, atomically.
func (s *authServer) take(ctx context.Context, key string, v any) error {
	b, err := s.store.Take(ctx, key)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// grantScopes decides the scopes of a grant: those asked for that the
// server knows. Scopes it does not know ("openid", a client's guess) are
// ignored, not refused (RFC 6749 §3.3 lets a server grant fewer), so that
// clients which ask for extra scopes still log in; asking for none, or for
// none the server knows, means every scope (the consent page lists them).
func (s *authServer) grantScopes(scope string) []string {
	var out []string
	for _, sc := range strings.Fields(scope) {
		if slices.Contains(s.scopes, sc) && !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return slices.Clone(s.scopes)
	}
	return out
}

// checkResource checks an RFC 8707 resource indicator: the server's public
// URL or a URL below it (the MCP endpoint). Empty means the public URL.
func (s *authServer) checkResource(resource string) (string, bool) {
	if resource == "" {
		return s.resource, true
	}
	if resource == s.resource || resource == s.issuer {
		return s.resource, true
	}
	u, err := url.Parse(resource)
	if err != nil || u.Fragment != "" || u.RawQuery != "" {
		return "", false
	}
	base, _ := url.Parse(s.issuer)
	if !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) {
		return "", false
	}
	if p := strings.TrimSuffix(base.Path, "/"); u.Path != p && !strings.HasPrefix(u.Path, p+"/") {
		return "", false
	}
	return s.resource, true
}

// verifyAccess checks an access token issued here.
func (s *authServer) verifyAccess(ctx context.Context, token string) (*Identity, *failure) {
	if s.store == nil {
		return nil, s.storeDown(ctx, errors.New("the state is not open"))
	}
	if !strings.HasPrefix(token, accessPrefix) {
		return nil, invalidToken("the token was not issued by this server", "unknown_token")
	}
	key := hashKey(keyAccess, token)
	now := s.now()
	s.mu.Lock()
	c, ok := s.checked[key]
	s.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.id.clone(), nil
	}
	var at accessRecord
	if err := s.get(ctx, key, &at); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalidToken("the token is unknown, expired or revoked", "unknown_token")
		}
		return nil, s.storeDown(ctx, err)
	}
	if !s.now().Before(at.Expires) {
		return nil, invalidToken("the token has expired", "expired")
	}
	var g grantRecord
	if err := s.get(ctx, keyGrant+at.Grant, &g); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalidToken("the token has been revoked", "revoked")
		}
		return nil, s.storeDown(ctx, err)
	}
	claims := map[string]any{
		"sub":       g.User.ID,
		"iss":       s.issuer,
		"aud":       g.Resource,
		"provider":  g.User.Provider,
		"client_id": g.ClientID,
		"scope":     strings.Join(at.Scopes, " "),
		"exp":       at.Expires.Unix(),
	}
	if g.User.Login != "" {
		claims["login"] = g.User.Login
	}
	if g.User.Name != "" {
		claims["name"] = g.User.Name
	}
	if g.User.Email != "" {
		claims["email"] = g.User.Email
	}
	id := &Identity{Subject: g.User.ID, Scopes: slices.Clone(at.Scopes), Claims: claims, Expiry: at.Expires, grant: g.ID}
	until := at.Expires
	if c := now.Add(accessCacheTTL); c.Before(until) {
		until = c
	}
	s.remember(key, checkedToken{id: id.clone(), until: until})
	return id, nil
}

// remember caches a checked token; when full, an arbitrary entry (map
// order) makes room.
func (s *authServer) remember(key string, c checkedToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.revoked[c.id.grant]; ok && s.now().Sub(at) < accessCacheTTL {
		return // checked before a revocation here, stored after it
	}
	if _, ok := s.checked[key]; !ok && len(s.checked) >= accessCacheEntries {
		for k := range s.checked {
			delete(s.checked, k)
			break
		}
	}
	s.checked[key] = c
}

// forget drops cached checks: of one token (key), or of every token of a
// grant.
func (s *authServer) forget(key, grant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key != "" {
		delete(s.checked, key)
	}
	if grant != "" {
		now := s.now()
		for k, c := range s.checked {
			if c.id.grant == grant {
				delete(s.checked, k)
			}
		}
		for g, at := range s.revoked {
			if now.Sub(at) >= accessCacheTTL {
				delete(s.revoked, g)
			}
		}
		s.revoked[grant] = now
	}
}

// storeDown is the failure when the state store cannot answer: fail
// closed, ask the client to retry.
func (s *authServer) storeDown(ctx context.Context, err error) *failure {
	s.log.LogAttrs(ctx, slog.LevelError, "auth_state_unavailable", slog.String("error", err.Error()))
	return &failure{status: http.StatusServiceUnavailable, description: "the authorization state is unavailable; retry later", reason: "state_unavailable"}
}

// isLoopbackHost reports whether host (no port) names this machine:
// localhost, or a literal loopback address (127.0.0.0/8, ::1). A name that
// merely starts with "127." is a name like any other.
func isLoopbackHost(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
