package authn

import "time"

// Modes of the front door.
const (
	// ModeNone lets every request in with no identity (local use).
	ModeNone = "none"
	// ModeAPIKey accepts static API keys as bearer tokens.
	ModeAPIKey = "api_key"
	// ModeOAuth is an OAuth 2.1 resource server in front of an existing
	// authorization server.
	ModeOAuth = "oauth"
)

// Defaults, applied in one place (see New).
const (
	// DefaultLeeway is the clock skew tolerated on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultJWKSRefresh is how often the key set is fetched in the
	// background.
	DefaultJWKSRefresh = time.Hour
	// DefaultUnknownKIDRefresh is the least time between two key-set fetches
	// caused by tokens signed with a key the set does not have.
	DefaultUnknownKIDRefresh = 30 * time.Second
	// DefaultFetchTimeout bounds one request to the authorization server
	// (metadata, JWKS, introspection).
	DefaultFetchTimeout = 10 * time.Second
	// DefaultIntrospectionCacheMax bounds how long an active introspection
	// answer is trusted (never past the token's exp).
	DefaultIntrospectionCacheMax = 5 * time.Minute
	// introspectionCacheEntries bounds the introspection cache.
	introspectionCacheEntries = 10000
	// jwtCacheTTL bounds how long a verified JWT is trusted without being
	// verified again (never past its exp).
	jwtCacheTTL = 5 * time.Minute
	// jwtCacheEntries bounds the cache of verified JWTs.
	jwtCacheEntries = 10000
	// inactiveCacheTTL is how long an inactive answer is remembered, so
	// that a revoked token presented again does not hammer the server.
	inactiveCacheTTL = 10 * time.Second
)

// DefaultAlgorithms is the algorithm allow-list when none is configured:
// asymmetric signatures only.
var DefaultAlgorithms = []string{"RS256", "ES256"}

// asymmetric are the algorithms an allow-list may name. HMAC (HS*) is not
// among them: a resource server has only public keys, and accepting HMAC is
// how a public key becomes a forgery key. "none" is never accepted.
var asymmetric = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

// Spec is the auth section of mcp.yaml.
type Spec struct {
	// Mode is none (the default), api_key or oauth.
	Mode string `koanf:"mode"`
	// AllowNoneOnPublicListen lets mode none serve on a non-loopback address
	// (a warning is logged); false refuses to start.
	AllowNoneOnPublicListen bool `koanf:"allow_none_on_public_listen"`
	// Scopes are required of every caller, for every request. Empty
	// requires none beyond a valid credential.
	Scopes []string `koanf:"scopes"`
	// OAuth configures mode oauth.
	OAuth OAuthSpec `koanf:"oauth"`
	// APIKeys are the keys of mode api_key.
	APIKeys []APIKeySpec `koanf:"api_keys"`
}

// OAuthSpec configures the resource server.
type OAuthSpec struct {
	// Issuer is the authorization server's issuer identifier; a JWT's iss
	// must equal it exactly. Required.
	Issuer string `koanf:"issuer"`
	// JWKSURL is where the signing keys are; empty means the jwks_uri of
	// the issuer's RFC 8414 (or OpenID Connect) metadata.
	JWKSURL string `koanf:"jwks_url"`
	// Audiences are accepted as a JWT's aud besides the server's
	// public_url, for providers that cannot set the resource URL.
	Audiences []string `koanf:"audiences"`
	// Algorithms is the signature allow-list; empty means RS256 and ES256.
	// HMAC and none are refused.
	Algorithms []string `koanf:"algorithms"`
	// Leeway is the clock skew tolerated on exp, nbf and iat; zero means
	// 30s.
	Leeway time.Duration `koanf:"leeway"`
	// JWKSRefresh is how often the key set is fetched again; zero means 1h.
	JWKSRefresh time.Duration `koanf:"jwks_refresh"`
	// UnknownKIDRefresh is the least time between two fetches of the key
	// set caused by an unknown kid; zero means 30s.
	UnknownKIDRefresh time.Duration `koanf:"unknown_kid_refresh"`
	// Introspection, when its url is set, verifies opaque (non-JWT) tokens
	// with RFC 7662.
	Introspection IntrospectionSpec `koanf:"introspection"`
}

// IntrospectionSpec configures RFC 7662 token introspection.
type IntrospectionSpec struct {
	// URL is the introspection endpoint; empty disables introspection.
	URL string `koanf:"url"`
	// ClientID and ClientSecret authenticate api2mcp to the endpoint
	// (HTTP Basic). ClientSecret is a secret: write it as ${VAR} or
	// ${file:/path}.
	ClientID     string `koanf:"client_id"`
	ClientSecret string `koanf:"client_secret"`
	// CacheMax bounds how long an active answer is trusted (never past its
	// exp), and so how late a revocation is noticed; zero means 5m.
	CacheMax time.Duration `koanf:"cache_max"`
}

// APIKeySpec is one static API key.
type APIKeySpec struct {
	// Name identifies the caller (claims.sub) in logs and expressions.
	Name string `koanf:"name"`
	// Key is the secret, written as ${VAR} or ${file:/path}; at least 16
	// characters. Only its SHA-256 hash is kept.
	Key string `koanf:"key"`
	// Scopes are granted to callers presenting the key.
	Scopes []string `koanf:"scopes"`
}
