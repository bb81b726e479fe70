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
// The package imports only its state store (authn/store). JOSE and JWT are done by
// github.com/golang-jwt/jwt/v5 and github.com/MicahParks/keyfunc/v3: no
// cryptography is written here.
package authn
