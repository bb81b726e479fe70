// Package store keeps the built-in authorization server's state: registered
// clients, pending authorizations, authorization codes, grants and the
// hashes of issued tokens, each under a key with its own expiry.
//
// In the walk of a request it stands behind the front door: package authn
// reads and writes it while it serves /authorize, /callback and /token, and
// when it checks a token it issued. Nothing on the path of a tools/call
// touches it otherwise.
//
// [Store] has two implementations with the same semantics, held to them by
// one conformance suite:
//
//   - [OpenFile]: one embedded file (go.etcd.io/bbolt), the default, so
//     grants survive a restart without a separate service. One process at a
//     time holds the file.
//   - [OpenRedis]: Redis (github.com/redis/go-redis/v9), when several
//     replicas share the state.
//
// Two operations are atomic because security depends on them: [Store.Take]
// (an authorization code is redeemed once, however many requests race for
// it) and [Store.Swap] (refresh-token reuse detection: of two requests
// presenting the same refresh token, exactly one sees it unused).
//
// Keys are short strings the caller builds, usually a prefix and a hash
// ("code:" + hex); values are opaque bytes. The store never sees a secret
// in the clear: callers hash tokens and encrypt upstream credentials before
// they get here. Errors never contain a value or a Redis password.
//
// The package imports none of ours.
package store
