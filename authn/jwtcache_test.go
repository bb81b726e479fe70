package authn

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api2mcp/api2mcp/authn/authntest"
)

const cacheResource = "https://mcp.example.com"

// clock is a settable clock for the verifier (the parser's exp checks and
// the cache's expiry read the same one).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newCachingVerifier(t *testing.T, as *authntest.Server, clk *clock) *jwtVerifier {
	t.Helper()
	a, err := New(Spec{Mode: ModeOAuth, OAuth: OAuthSpec{Issuer: as.Issuer, UnknownKIDRefresh: time.Hour}}, cacheResource, &Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a.jwt
}

func TestVerifiedCache(t *testing.T) {
	ctx := context.Background()
	as := authntest.NewServer(t)
	k := as.NewKey(t, "RS256")
	as.Publish(k)
	clk := &clock{t: time.Now()}
	v := newCachingVerifier(t, as, clk)
	sign := func(sub string, exp time.Duration) string {
		c := as.Claims(cacheResource, sub, "mcp")
		c["iat"] = clk.now().Unix()
		c["exp"] = clk.now().Add(exp).Unix()
		return as.Sign(t, k, c)
	}
	verify := func(tok string) (*Identity, *failure) {
		t.Helper()
		return v.verify(ctx, tok)
	}

	alice := sign("alice", time.Hour)
	first, f := verify(alice)
	if f != nil {
		t.Fatalf("alice: %s", f.description)
	}
	t.Run("hit", func(t *testing.T) {
		again, f := verify(alice)
		if f != nil || again != first {
			t.Errorf("second verification: identity %p (want the cached %p), failure %v", again, first, f)
		}
		if n := v.verified.len(); n != 1 {
			t.Errorf("entries = %d, want 1", n)
		}
	})
	t.Run("keyed by hash, not the token", func(t *testing.T) {
		for key := range v.verified.m {
			if key != sha256.Sum256([]byte(alice)) {
				t.Errorf("key is not the token's SHA-256")
			}
		}
	})
	t.Run("another token is not confused", func(t *testing.T) {
		bob := sign("bob", time.Hour)
		id, f := verify(bob)
		if f != nil || id.Subject != "bob" {
			t.Fatalf("bob: identity %+v, failure %v", id, f)
		}
		id, _ = verify(alice)
		if id.Subject != "alice" {
			t.Errorf("alice after bob: subject %q", id.Subject)
		}
	})
	t.Run("tampered token rejected and not cached", func(t *testing.T) {
		before := v.verified.len()
		parts := strings.Split(alice, ".")
		// The payload of another token with alice's signature.
		forged := parts[0] + "." + strings.Split(sign("mallory", time.Hour), ".")[1] + "." + parts[2]
		for range 2 {
			if _, f := verify(forged); f == nil || f.reason != "bad_signature" {
				t.Fatalf("forged token: failure %+v, want bad_signature", f)
			}
		}
		if n := v.verified.len(); n != before {
			t.Errorf("entries = %d after a forged token, want %d", n, before)
		}
	})
	t.Run("bounded by the TTL", func(t *testing.T) {
		clk.advance(jwtCacheTTL)
		id, f := verify(alice)
		if f != nil {
			t.Fatalf("after the TTL: %s", f.description)
		}
		if id == first {
			t.Errorf("after the TTL the cached identity was used, want a fresh verification")
		}
	})
	t.Run("never past exp", func(t *testing.T) {
		short := sign("carol", time.Minute)
		if _, f := verify(short); f != nil {
			t.Fatal(f.description)
		}
		clk.advance(time.Minute + DefaultLeeway + time.Second)
		if _, f := verify(short); f == nil || f.reason != "expired" {
			t.Errorf("after exp: failure %+v, want expired", f)
		}
	})
}

// A key the issuer withdraws stops its cached tokens, as it stops uncached
// ones, once the set no longer has it.
func TestVerifiedCacheKeyWithdrawn(t *testing.T) {
	ctx := context.Background()
	as := authntest.NewServer(t)
	k1, k2 := as.NewKey(t, "RS256"), as.NewKey(t, "ES256")
	as.Publish(k1)
	clk := &clock{t: time.Now()}
	v := newCachingVerifier(t, as, clk)
	tok1 := as.Sign(t, k1, as.Claims(cacheResource, "alice", ""))
	if _, f := v.verify(ctx, tok1); f != nil {
		t.Fatal(f.description)
	}
	if _, f := v.verify(ctx, tok1); f != nil || v.verified.len() != 1 {
		t.Fatalf("cached: failure %v, entries %d", f, v.verified.len())
	}
	// k1 withdrawn: the first k2 token makes the set refresh to {k2}.
	as.Publish(k2)
	if _, f := v.verify(ctx, as.Sign(t, k2, as.Claims(cacheResource, "bob", ""))); f != nil {
		t.Fatalf("k2: %s", f.description)
	}
	if _, f := v.verify(ctx, tok1); f == nil || f.status != http.StatusUnauthorized {
		t.Errorf("token of a withdrawn key: failure %+v, want 401", f)
	}
}

func TestVerifiedCacheBound(t *testing.T) {
	c := newVerifiedCache(3, time.Minute)
	now := time.Now()
	for i := range 10 {
		c.put(sha256.Sum256([]byte{byte(i)}), &verifiedToken{id: &Identity{}}, now, now.Add(time.Hour))
		if n := c.len(); n > 3 {
			t.Fatalf("after %d puts: %d entries, want at most 3", i+1, n)
		}
	}
	c.put(sha256.Sum256([]byte("expired")), &verifiedToken{id: &Identity{}}, now, now.Add(-time.Second))
	if _, ok := c.m[sha256.Sum256([]byte("expired"))]; ok {
		t.Errorf("an expired token was cached")
	}
}

// A refresh that keeps the key (new objects, same values) keeps its tokens'
// entries.
func TestVerifiedCacheKeyKept(t *testing.T) {
	ctx := context.Background()
	as := authntest.NewServer(t)
	k1, k2 := as.NewKey(t, "RS256"), as.NewKey(t, "ES256")
	as.Publish(k1)
	v := newCachingVerifier(t, as, &clock{t: time.Now()})
	tok1 := as.Sign(t, k1, as.Claims(cacheResource, "alice", ""))
	first, f := v.verify(ctx, tok1)
	if f != nil {
		t.Fatal(f.description)
	}
	hits := as.JWKSHits()
	as.Publish(k1, k2)
	if _, f := v.verify(ctx, as.Sign(t, k2, as.Claims(cacheResource, "bob", ""))); f != nil {
		t.Fatalf("k2: %s", f.description)
	}
	if as.JWKSHits() != hits+1 {
		t.Fatalf("the set was not refreshed")
	}
	if again, f := v.verify(ctx, tok1); f != nil || again != first {
		t.Errorf("after a refresh keeping k1: identity %p (want the cached %p), failure %v", again, first, f)
	}
}
