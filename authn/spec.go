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
	// ModeAuthorizationServer makes api2mcp its own OAuth 2.1 authorization
	// server, federating the user's login to GitHub, Google or an OpenID
	// Connect provider.
	ModeAuthorizationServer = "authorization_server"
)

// Login providers of mode authorization_server.
const (
	ProviderGitHub = "github"
	ProviderGoogle = "google"
	ProviderOIDC   = "oidc"
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
	// AuthorizationServer configures mode authorization_server.
	AuthorizationServer ASSpec `koanf:"authorization_server"`
}

// ASSpec configures the built-in authorization server: MCP clients register
// with it (dynamically or by a client metadata document), send their user to
// its /authorize, which federates the login to the provider, and receive
// tokens it issues for this server only.
type ASSpec struct {
	// Login is the provider users log in with.
	Login LoginSpec `koanf:"login"`
	// EncryptionKey encrypts the users' provider tokens at rest (AES-256-GCM):
	// 32 bytes, base64 (standard or URL alphabet), written as ${VAR} or
	// ${file:/path}. Generate one with: openssl rand -base64 32. Required.
	EncryptionKey string `koanf:"encryption_key"`
	// State is where clients, grants and token hashes are kept.
	State StateSpec `koanf:"state"`
	// AccessTokenTTL is the lifetime of an access token; zero means 1h. A
	// replica trusts a token it checked for 5s without reading the state
	// again, so a revocation made on another replica takes up to 5s.
	AccessTokenTTL time.Duration `koanf:"access_token_ttl"`
	// RefreshTokenTTL is the lifetime of a refresh token (each refresh
	// issues a new one); zero means 30 days (720h).
	RefreshTokenTTL time.Duration `koanf:"refresh_token_ttl"`
	// SessionTTL is how long a login lasts, however often its tokens are
	// refreshed: then the user logs in again. Zero means 90 days (2160h).
	SessionTTL time.Duration `koanf:"session_ttl"`
	// DynamicRegistration enables RFC 7591 client registration at /register
	// (unset means on: many MCP clients still depend on it).
	DynamicRegistration *bool `koanf:"dynamic_registration"`
	// ClientMetadataDocuments accepts https URLs as client ids, whose
	// client metadata document is fetched (at most 5 KiB, 5s) and cached
	// (unset means on).
	ClientMetadataDocuments *bool `koanf:"client_metadata_documents"`
	// AllowPrivateClientHosts lets client metadata documents be fetched from
	// loopback and private addresses (off: a client id must not make the
	// server reach into its own network).
	AllowPrivateClientHosts bool `koanf:"allow_private_client_hosts"`
}

// LoginSpec is the upstream identity provider.
type LoginSpec struct {
	// Provider is github, google or oidc.
	Provider string `koanf:"provider"`
	// ClientID and ClientSecret are the OAuth app's credentials at the
	// provider; the secret is written as ${VAR} or ${file:/path}. The app's
	// callback URL is server.public_url + /callback.
	ClientID     string `koanf:"client_id"`
	ClientSecret string `koanf:"client_secret"`
	// Issuer is the OpenID Connect issuer (provider oidc; fixed for google).
	Issuer string `koanf:"issuer"`
	// Scopes are requested from the provider besides those login needs
	// (github: read:user, and read:org with allowed_orgs; google and oidc:
	// openid email profile). The provider token a user_token upstream
	// receives carries them.
	Scopes []string `koanf:"scopes"`
	// AllowedUsers are the users who may log in, by the provider's stable
	// id: a GitHub numeric user id, an OpenID Connect sub.
	AllowedUsers []string `koanf:"allowed_users"`
	// AllowedOrgs lets members of these GitHub organisations log in: a
	// numeric id (stable) or a login (an organisation can be renamed, and
	// its old login taken by another).
	AllowedOrgs []string `koanf:"allowed_orgs"`
	// AllowedDomains lets users with a verified email address in these
	// domains log in (google and oidc; google's hd claim counts too).
	AllowedDomains []string `koanf:"allowed_domains"`
	// AllowAnyUser lets anyone with an account at the provider log in; it
	// must be set explicitly when no allowed_* list is.
	AllowAnyUser bool `koanf:"allow_any_user"`
	// AuthURL, TokenURL and APIURL replace GitHub's endpoints (GitHub
	// Enterprise Server: https://HOST/login/oauth/authorize,
	// https://HOST/login/oauth/access_token, https://HOST/api/v3).
	AuthURL  string `koanf:"auth_url"`
	TokenURL string `koanf:"token_url"`
	APIURL   string `koanf:"api_url"`
}

// StateSpec says where the authorization server keeps its state.
type StateSpec struct {
	// File is the embedded single-file store; a relative path is relative to
	// mcp.yaml. Empty (and no redis) means api2mcp-auth.db beside mcp.yaml.
	File string `koanf:"file"`
	// Redis keeps the state in Redis instead, so that replicas share
	// grants.
	Redis RedisStateSpec `koanf:"redis"`
}

// RedisStateSpec is a Redis used as the authorization server's store.
type RedisStateSpec struct {
	// URL is redis://[user:password@]host:port[/db] or rediss://; written
	// with ${VAR} when it holds a password.
	URL string `koanf:"url"`
	// Prefix is put before every key; empty means "api2mcp:as:".
	Prefix string `koanf:"prefix"`
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
