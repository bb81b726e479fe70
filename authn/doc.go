// Package authn is the front door: it decides who is calling before any MCP
// message is read, and says so in the standard OAuth 2.0 way when it cannot.
//
// In the walk of a request it stands right after the origin check (package
// proxy assembles the chain): [Authenticator.Middleware] takes the bearer
// token from the Authorization header, verifies it (a JWT against the
// issuer's JWKS, an opaque token through RFC 7662 introspection, or a static
// API key), and puts the caller's [Identity] in the request context, or
// answers 401/403 with a WWW-Authenticate challenge pointing at the RFC 9728
// protected-resource metadata ([Authenticator.MetadataHandler]). Package
// proxy passes the identity on to the MCP SDK (TokenInfo), to per-tool scope
// checks and to mapping expressions as claims.
//
// Configuration ([Spec]) is data: [New] checks it and builds an
// Authenticator without any network traffic; the issuer's metadata and keys
// are fetched on first use, and refreshed in the background until
// [Authenticator.Close].
//
// In mode authorization_server the package is also an OAuth 2.1
// authorization server ([Authenticator.Routes]; as.go, asflow.go,
// astoken.go, asclients.go): clients register (RFC 7591, or a client
// metadata document at an https client id), users log in at GitHub, Google
// or an OpenID Connect provider (aslogin.go, on golang.org/x/oauth2 and
// github.com/coreos/go-oidc/v3) and consent, and the tokens issued are
// opaque and checked against the state store (package authn/store: one
// file, or Redis), which holds only their hashes. The user's provider token
// is kept encrypted (AES-256-GCM) for upstreams that call the provider's API
// as the user ([Authenticator.UpstreamToken]).
//
// The package imports only its state store (authn/store). JOSE and JWT are
// done by github.com/golang-jwt/jwt/v5, github.com/MicahParks/keyfunc/v3 and
// go-oidc: no cryptography is written here beyond calling the standard
// library's SHA-256, AES-GCM and random source.
package authn
