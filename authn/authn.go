package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/api2mcp/api2mcp/authn/store"
)

// Options configure [New].
type Options struct {
	// Logger receives one line per rejected request and authorization-server
	// trouble, never a token; nil discards.
	Logger *slog.Logger
	// Client makes requests to the authorization server (metadata, JWKS,
	// introspection); nil means an http.Client with a 10s timeout.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ResourceName is shown in the protected-resource metadata.
	ResourceName string
	// ScopesSupported are listed in the protected-resource metadata besides
	// the section's own scopes (the tools' scopes).
	ScopesSupported []string
	// OnReject, when set, is told the reason of each rejected request (for
	// metrics); reasons come from a fixed set.
	OnReject func(reason string)
	// OnEvent, when set, is told what the built-in authorization server
	// does (for metrics), from a fixed set: client_registered, login,
	// login_refused, consent_denied, code_redeemed, token_refreshed,
	// code_replay, refresh_reuse, revoked.
	OnEvent func(event string)
	// Store keeps the state of mode authorization_server (see package
	// authn/store); required to serve in that mode, not to check a spec.
	Store store.Store
	// ClientDocTransport fetches client metadata documents; nil means a
	// transport that dials public addresses only (or any, with
	// allow_private_client_hosts). Tests set it to trust their TLS server.
	ClientDocTransport http.RoundTripper
}

// Identity is an authenticated caller.
type Identity struct {
	// Subject is the token's sub (or client_id), or the API key's name.
	Subject string
	// Scopes are the scopes the credential grants.
	Scopes []string
	// Claims are the token's claims (introspection answer, or for an API
	// key {sub, scope}); mapping expressions see them as claims.
	Claims map[string]any
	// Expiry is when the credential stops being valid; zero for API keys.
	Expiry time.Time

	grant string // the grant of a token issued by the built-in server
}

// clone returns a copy that shares nothing mutable with id.
func (id *Identity) clone() *Identity {
	c := *id
	c.Scopes = slices.Clone(id.Scopes)
	c.Claims = maps.Clone(id.Claims)
	return &c
}

// HasScopes reports whether the identity holds every scope in want.
func (id *Identity) HasScopes(want []string) bool {
	for _, s := range want {
		if !slices.Contains(id.Scopes, s) {
			return false
		}
	}
	return true
}

type identityKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity [Authenticator.Middleware] put in ctx, or
// nil.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// Authenticator is a compiled auth section: immutable apart from its caches
// and key set, and safe for concurrent use.
type Authenticator struct {
	mode       string
	scopes     []string
	resource   string // server.public_url; empty outside mode oauth
	metaURL    string // where the protected-resource metadata is
	log        *slog.Logger
	onReject   func(reason string)
	forcedNone bool // mode none may listen on a public address

	keys      []apiKey
	as        *authServer
	jwt       *jwtVerifier
	intro     *introspector
	metadata  []byte
	metaPaths []string
}

type apiKey struct {
	name   string
	hash   [sha256.Size]byte
	scopes []string
}

// FieldError is a problem with one field of the auth section; Field is
// relative to it ("oauth.issuer").
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// minKeyLen is the shortest API key accepted.
const minKeyLen = 16

// New checks spec and compiles it. resource is the server's public URL (the
// OAuth resource identifier, required in mode oauth). It makes no network
// request. The error joins one *FieldError per problem.
func New(spec Spec, resource string, opts *Options) (*Authenticator, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: DefaultFetchTimeout}
	}
	var errs []error
	fail := func(field, format string, a ...any) {
		errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf(format, a...)})
	}
	a := &Authenticator{mode: spec.Mode, scopes: spec.Scopes, log: o.Logger, onReject: o.OnReject, forcedNone: spec.AllowNoneOnPublicListen}
	if a.mode == "" {
		a.mode = ModeNone
	}
	for i, s := range spec.Scopes {
		if !validScope(s) {
			fail(fmt.Sprintf("scopes[%d]", i), "%q is not a valid scope (printable ASCII without spaces, quotes or backslashes)", s)
		}
	}
	asSet := spec.AuthorizationServer.Login.Provider != "" || spec.AuthorizationServer.EncryptionKey != "" || spec.AuthorizationServer.State != (StateSpec{})
	if asSet && a.mode != ModeAuthorizationServer {
		fail("authorization_server", "set, but mode is %s (want mode: authorization_server)", a.mode)
	}
	oauthSet := spec.OAuth.Issuer != "" || spec.OAuth.JWKSURL != "" || spec.OAuth.Introspection.URL != "" || len(spec.OAuth.Audiences) > 0 || len(spec.OAuth.Algorithms) > 0
	switch a.mode {
	case ModeNone:
		if len(spec.APIKeys) > 0 {
			fail("api_keys", "set, but mode is none (want mode: api_key)")
		}
		if oauthSet {
			fail("oauth", "set, but mode is none (want mode: oauth)")
		}
		if len(spec.Scopes) > 0 {
			fail("scopes", "set, but mode is none: nobody could hold them")
		}
	case ModeAPIKey:
		if oauthSet {
			fail("oauth", "set, but mode is api_key")
		}
		if len(spec.APIKeys) == 0 {
			fail("api_keys", "required in mode api_key (at least one key)")
		}
		names := map[string]int{}
		hashes := map[[sha256.Size]byte]int{}
		for i, k := range spec.APIKeys {
			field := fmt.Sprintf("api_keys[%d]", i)
			if k.Name == "" {
				fail(field+".name", "required: it is the caller's identity")
			} else if j, dup := names[k.Name]; dup {
				fail(field+".name", "%q is already used by api_keys[%d]", k.Name, j)
			}
			names[k.Name] = i
			// The key is a secret: problems are described without it.
			if len(k.Key) < minKeyLen {
				fail(field+".key", "must be at least %d characters (write it as ${VAR} or ${file:/path})", minKeyLen)
				continue
			}
			h := sha256.Sum256([]byte(k.Key))
			if j, dup := hashes[h]; dup {
				fail(field+".key", "is the same key as api_keys[%d]", j)
			}
			hashes[h] = i
			for j, s := range k.Scopes {
				if !validScope(s) {
					fail(fmt.Sprintf("%s.scopes[%d]", field, j), "%q is not a valid scope", s)
				}
			}
			a.keys = append(a.keys, apiKey{name: k.Name, hash: h, scopes: k.Scopes})
		}
	case ModeOAuth:
		if len(spec.APIKeys) > 0 {
			fail("api_keys", "set, but mode is oauth")
		}
		if resource == "" {
			errs = append(errs, &FieldError{Field: "oauth", Err: errors.New("mode oauth needs server.public_url: it is the resource identifier tokens must be issued for")})
		}
		a.resource = resource
		v, verrs := newJWTVerifier(spec.OAuth, resource, &o)
		errs = append(errs, verrs...)
		a.jwt = v
		if spec.OAuth.Introspection.URL != "" {
			in, ierrs := newIntrospector(spec.OAuth, resource, &o)
			errs = append(errs, ierrs...)
			a.intro = in
		} else if spec.OAuth.Introspection.ClientID != "" || spec.OAuth.Introspection.ClientSecret != "" {
			fail("oauth.introspection.url", "required when client_id or client_secret is set")
		}
	case ModeAuthorizationServer:
		if len(spec.APIKeys) > 0 {
			fail("api_keys", "set, but mode is authorization_server")
		}
		if oauthSet {
			fail("oauth", "set, but mode is authorization_server (the tokens are this server's own)")
		}
		a.resource = resource
		a.as = newAuthServer(spec.AuthorizationServer, resource, &o, fail)
	default:
		fail("mode", "%q is not none, api_key, oauth or authorization_server", spec.Mode)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if (a.mode == ModeOAuth || a.mode == ModeAuthorizationServer) && resource != "" {
		a.buildMetadata(spec, o)
	}
	return a, nil
}

// validScope reports whether s is a scope-token (RFC 6749 §3.3) that can
// also be quoted in a WWW-Authenticate header.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= 0x20 || r >= 0x7f || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}

// buildMetadata prepares the RFC 9728 document and the paths it is served
// at: /.well-known/oauth-protected-resource, the variant suffixed with the
// MCP endpoint (/mcp) and the one suffixed with the public URL's path.
func (a *Authenticator) buildMetadata(spec Spec, o Options) {
	pu, _ := url.Parse(a.resource)
	path := strings.TrimSuffix(pu.Path, "/")
	const wk = "/.well-known/oauth-protected-resource"
	a.metaURL = pu.Scheme + "://" + pu.Host + wk + path
	a.metaPaths = []string{wk, wk + "/mcp"}
	if path != "" && !slices.Contains(a.metaPaths, wk+path) {
		a.metaPaths = append(a.metaPaths, wk+path)
	}
	scopes := slices.Clone(spec.Scopes)
	for _, s := range o.ScopesSupported {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	issuer := spec.OAuth.Issuer
	if a.as != nil {
		a.as.finish(scopes)
		issuer = a.as.issuer
	}
	doc := map[string]any{
		"resource":                 a.resource,
		"authorization_servers":    []string{issuer},
		"bearer_methods_supported": []string{"header"},
	}
	if len(scopes) > 0 {
		doc["scopes_supported"] = scopes
	}
	if o.ResourceName != "" {
		doc["resource_name"] = o.ResourceName
	}
	if len(spec.OAuth.Algorithms) > 0 {
		doc["resource_signing_alg_values_supported"] = spec.OAuth.Algorithms
	}
	a.metadata, _ = json.Marshal(doc)
}

// Mode returns the front door's mode: none, api_key or oauth.
func (a *Authenticator) Mode() string { return a.mode }

// NoneForced reports whether mode none may listen on a public address.
func (a *Authenticator) NoneForced() bool { return a.forcedNone }

// MetadataPaths are the HTTP paths of the protected-resource metadata; none
// outside mode oauth.
func (a *Authenticator) MetadataPaths() []string { return a.metaPaths }

// MetadataHandler serves the RFC 9728 protected-resource metadata. It is
// public: any origin may read it.
func (a *Authenticator) MetadataHandler() http.Handler { return publicJSON(a.metadata) }

// Routes are the built-in authorization server's endpoints, by path
// pattern (none outside mode authorization_server). They are public: they
// go on the mux outside the front door.
func (a *Authenticator) Routes() map[string]http.Handler {
	if a.as == nil {
		return nil
	}
	return a.as.routes()
}

// UpstreamToken returns the caller's own token at the login provider, for an
// upstream with auth type user_token: refreshed when it has expired. It
// fails with [ErrNoUserToken] for callers who did not log in through the
// built-in authorization server.
func (a *Authenticator) UpstreamToken(ctx context.Context, id *Identity) (string, error) {
	if a.as == nil || id == nil {
		return "", ErrNoUserToken
	}
	return a.as.upstreamToken(ctx, id.grant)
}

// Open opens the state of mode authorization_server (the file or Redis
// its state section names) unless [Options] gave a store; other modes have
// none. A server calls it before it listens, so that a bad state setting
// stops it at once.
func (a *Authenticator) Open(ctx context.Context) error {
	if a.as == nil {
		return nil
	}
	return a.as.open(ctx)
}

// Close stops the background refresh of the key set, and closes the state
// Open opened.
func (a *Authenticator) Close() {
	if a.as != nil {
		a.as.close()
	}
	if a.jwt != nil {
		a.jwt.close()
	}
}

// identityHeaders are request headers that claim an identity; a client could
// send them hoping an allow-listed forward reaches an upstream that trusts
// them. They are removed from every request. The names are in canonical
// form (a test checks it), so they are deleted from the map as they are.
var identityHeaders = []string{
	"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username", "X-Forwarded-Groups",
	"X-Forwarded-Access-Token", "X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups",
	"X-Auth-Request-Preferred-Username", "X-Auth-Request-Access-Token", "X-Remote-User", "Remote-User",
	"X-Remote-Group", "X-User", "X-User-Id", "X-Email", "X-Authenticated-User", "X-Userinfo", "X-Id-Token",
}

// Middleware authenticates every request before next sees it: the caller's
// [Identity] is put in the request context, or the request is answered 400,
// 401, 403 or 503 with a WWW-Authenticate challenge. In mode none requests
// pass with no identity. Identity headers sent by the client are removed in
// every mode.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range identityHeaders {
			delete(r.Header, h)
		}
		if a.mode == ModeNone {
			next.ServeHTTP(w, r)
			return
		}
		id, f := a.authenticate(r)
		if f != nil {
			if a.onReject != nil {
				a.onReject(f.reason)
			}
			a.log.LogAttrs(r.Context(), slog.LevelInfo, "auth_rejected",
				slog.Int("status", f.status),
				slog.String("reason", f.reason),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path))
			a.writeFailure(w, f)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}

// failure is a rejected request: its status, the OAuth error code (empty for
// a missing credential), a description safe to show (it never quotes the
// token) and a reason for the log.
type failure struct {
	status      int
	code        string
	description string
	reason      string
	scopes      []string // for insufficient_scope
}

func invalidToken(description, reason string) *failure {
	return &failure{status: http.StatusUnauthorized, code: "invalid_token", description: description, reason: reason}
}

var errUnavailable = errors.New("authorization server unavailable")

func (a *Authenticator) authenticate(r *http.Request) (*Identity, *failure) {
	if r.URL.Query().Has("access_token") {
		return nil, &failure{status: http.StatusBadRequest, code: "invalid_request", description: "tokens are accepted only in the Authorization header", reason: "token_in_query"}
	}
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return nil, &failure{status: http.StatusUnauthorized, reason: "missing_token"}
	}
	if len(values) > 1 {
		return nil, &failure{status: http.StatusBadRequest, code: "invalid_request", description: "more than one Authorization header", reason: "malformed_header"}
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Another scheme is no bearer credential at all: the plain
		// challenge, as for a missing token (RFC 6750 §3.1).
		return nil, &failure{status: http.StatusUnauthorized, reason: "wrong_scheme"}
	}
	if !validToken68(token) {
		return nil, &failure{status: http.StatusBadRequest, code: "invalid_request", description: "malformed Authorization header (want: Bearer <token>)", reason: "malformed_header"}
	}
	var id *Identity
	var f *failure
	switch a.mode {
	case ModeAPIKey:
		id, f = a.checkAPIKey(token)
	case ModeOAuth:
		id, f = a.checkOAuth(r.Context(), token)
	case ModeAuthorizationServer:
		id, f = a.as.verifyAccess(r.Context(), token)
	}
	if f != nil {
		return nil, f
	}
	if !id.HasScopes(a.scopes) {
		return nil, &failure{status: http.StatusForbidden, code: "insufficient_scope", description: "the token lacks a required scope", reason: "insufficient_scope", scopes: a.scopes}
	}
	return id, nil
}

// validToken68 reports whether s is a b64token (RFC 6750 §2.1).
func validToken68(s string) bool {
	if s == "" {
		return false
	}
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for _, c := range body {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/':
		default:
			return false
		}
	}
	return true
}

func (a *Authenticator) checkAPIKey(token string) (*Identity, *failure) {
	h := sha256.Sum256([]byte(token))
	match := -1
	// Every key is compared, in constant time, whatever matches.
	for i := range a.keys {
		if subtle.ConstantTimeCompare(h[:], a.keys[i].hash[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return nil, invalidToken("unknown API key", "unknown_api_key")
	}
	k := a.keys[match]
	return &Identity{
		Subject: k.name,
		Scopes:  slices.Clone(k.scopes),
		Claims:  map[string]any{"sub": k.name, "scope": strings.Join(k.scopes, " ")},
	}, nil
}

func (a *Authenticator) checkOAuth(ctx context.Context, token string) (*Identity, *failure) {
	if looksLikeJWT(token) {
		return a.jwt.verify(ctx, token)
	}
	if a.intro != nil {
		return a.intro.verify(ctx, token)
	}
	return nil, invalidToken("the token is malformed", "malformed_token")
}

// looksLikeJWT reports whether token has the three parts of a JWS compact
// serialisation; anything else is an opaque token.
func looksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2
}

// InsufficientScope answers 403 with the step-up challenge naming scopes,
// the scopes the request needs (RFC 6750 §3.1, MCP authorization).
func (a *Authenticator) InsufficientScope(w http.ResponseWriter, scopes []string) {
	a.writeFailure(w, &failure{status: http.StatusForbidden, code: "insufficient_scope", description: "the token lacks a scope this tool requires", reason: "insufficient_scope", scopes: scopes})
}

func (a *Authenticator) writeFailure(w http.ResponseWriter, f *failure) {
	if f.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "10")
		writeJSON(w, f.status, map[string]string{"error": "temporarily_unavailable", "error_description": f.description})
		return
	}
	var params []string
	if a.mode == ModeAPIKey {
		params = append(params, `realm="api2mcp"`)
	}
	if f.code != "" {
		params = append(params, fmt.Sprintf("error=%q", f.code))
		if f.description != "" {
			params = append(params, fmt.Sprintf("error_description=%q", f.description))
		}
	}
	if a.metaURL != "" {
		params = append(params, fmt.Sprintf("resource_metadata=%q", a.metaURL))
	}
	scopes := a.scopes
	if f.scopes != nil {
		scopes = f.scopes
	}
	if len(scopes) > 0 {
		params = append(params, fmt.Sprintf("scope=%q", strings.Join(scopes, " ")))
	}
	challenge := "Bearer"
	if len(params) > 0 {
		challenge += " " + strings.Join(params, ", ")
	}
	w.Header().Set("WWW-Authenticate", challenge)
	body := map[string]string{"error": f.code, "error_description": f.description}
	if f.code == "" {
		body = map[string]string{"error": "unauthorized", "error_description": "a bearer token is required"}
	}
	writeJSON(w, f.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// scopesOf reads the granted scopes from claims: scope (a space-separated
// string, RFC 8693/9068) or scp (a list or a string, Okta and Entra).
func scopesOf(claims map[string]any) []string {
	var out []string
	add := func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, strings.Fields(v)...)
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	add(claims["scope"])
	add(claims["scp"])
	return out
}

// subjectOf is the caller's identifier: sub, else client_id or azp.
func subjectOf(claims map[string]any) string {
	for _, k := range []string{"sub", "client_id", "azp"} {
		if s, ok := claims[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}
