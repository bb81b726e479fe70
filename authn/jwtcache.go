package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
)

// verifiedCache remembers JWTs that passed verification, so that a client
// presenting the same token on every request (as MCP clients do) pays for
// one signature check per token instead of one per request.
//
// Entries are keyed by the token's SHA-256, never the token itself, and hold
// the identity the verification produced. An entry is used only:
//   - before the token's exp, and no longer than jwtCacheTTL after the
//     verification (a bound on how stale anything cached can be);
//   - while the key that verified the signature is still in the issuer's key
//     set under the same kid: a key the issuer withdraws (rotation, or a
//     compromised key) stops its tokens at the same moment as without the
//     cache, at the next refresh of the set.
//
// Only successes are cached: a tampered, expired or otherwise rejected token
// is verified (and rejected) every time. Tokens without a kid are not cached
// (which key verified them is not known). A JWT cannot be revoked before its
// exp anyway; deployments that need revocation use opaque tokens and
// introspection, which has its own cache.
//
// The cache holds at most jwtCacheEntries; when full, an arbitrary entry
// (Go's map iteration order) makes room, which costs O(1) and cannot be
// steered by a client.
type verifiedCache struct {
	max int
	ttl time.Duration

	mu sync.RWMutex
	m  map[[sha256.Size]byte]*verifiedToken
}

// verifiedToken is a cached verification.
type verifiedToken struct {
	id    *Identity
	kid   string
	key   crypto.PublicKey
	until time.Time
}

func newVerifiedCache(max int, ttl time.Duration) *verifiedCache {
	return &verifiedCache{max: max, ttl: ttl, m: map[[sha256.Size]byte]*verifiedToken{}}
}

// get returns the identity cached for the token hashed as key, if its entry
// is still good at now and its key still in the set kf serves.
func (c *verifiedCache) get(ctx context.Context, key [sha256.Size]byte, now time.Time, kf keyfunc.Keyfunc) (*Identity, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	if !now.Before(e.until) || !stillPublished(ctx, kf, e.kid, e.key) {
		c.mu.Lock()
		if c.m[key] == e {
			delete(c.m, key)
		}
		c.mu.Unlock()
		return nil, false
	}
	return e.id, true
}

// stillPublished reports whether the key set holds key under kid. Reading
// a kid the set no longer has makes it refresh at most once per
// unknown_kid_refresh, as verifying the token afresh would.
func stillPublished(ctx context.Context, kf keyfunc.Keyfunc, kid string, key crypto.PublicKey) bool {
	jwk, err := kf.Storage().KeyRead(ctx, kid)
	if err != nil {
		return false
	}
	k := jwk.Key()
	if priv, ok := k.(interface{ Public() crypto.PublicKey }); ok {
		k = priv.Public() // as keyfunc hands it to the parser
	}
	// Until the set is refreshed it hands out the very key that verified
	// the token; comparing the values (big integers) costs more.
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k == key {
			return true
		}
	case *ecdsa.PublicKey:
		if k == key {
			return true
		}
	}
	pub, ok := k.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key)
}

// put caches a verification made at now of a token that expires at exp.
func (c *verifiedCache) put(key [sha256.Size]byte, e *verifiedToken, now, exp time.Time) {
	e.until = now.Add(c.ttl)
	if exp.Before(e.until) {
		e.until = exp
	}
	if !now.Before(e.until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = e
}

func (c *verifiedCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
