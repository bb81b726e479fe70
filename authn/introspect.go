package authn

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxIntrospectionBytes caps an introspection answer.
const maxIntrospectionBytes = 1 << 20

// introspector verifies opaque tokens with RFC 7662 and caches the answers
// by the token's SHA-256 (never the token itself) until they expire.
type introspector struct {
	endpoint  string
	clientID  string
	secret    string
	issuer    string
	audiences []string
	cacheMax  time.Duration
	client    *http.Client
	log       *slog.Logger
	now       func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cached
}

type cached struct {
	id    *Identity // nil: inactive
	until time.Time
}

func newIntrospector(spec OAuthSpec, resource string, o *Options) (*introspector, []error) {
	var errs []error
	is := spec.Introspection
	if !absoluteHTTP(is.URL) {
		errs = append(errs, &FieldError{Field: "oauth.introspection.url", Err: fmt.Errorf("%q is not an absolute http(s) URL", is.URL)})
	}
	if is.CacheMax < 0 {
		errs = append(errs, &FieldError{Field: "oauth.introspection.cache_max", Err: fmt.Errorf("must not be negative")})
	}
	in := &introspector{
		endpoint: is.URL, clientID: is.ClientID, secret: is.ClientSecret,
		issuer: spec.Issuer, cacheMax: is.CacheMax,
		client: o.Client, log: o.Logger, now: o.Now,
		cache: map[[sha256.Size]byte]cached{},
	}
	if in.cacheMax == 0 {
		in.cacheMax = DefaultIntrospectionCacheMax
	}
	if resource != "" {
		in.audiences = append(in.audiences, resource, strings.TrimSuffix(resource, "/"))
	}
	in.audiences = append(in.audiences, spec.Audiences...)
	return in, errs
}

func (in *introspector) verify(ctx context.Context, token string) (*Identity, *failure) {
	key := sha256.Sum256([]byte(token))
	now := in.now()
	in.mu.Lock()
	c, ok := in.cache[key]
	in.mu.Unlock()
	if ok && now.Before(c.until) {
		if c.id == nil {
			return nil, invalidToken("the token is not active", "inactive")
		}
		return c.id, nil
	}
	claims, err := in.introspect(ctx, token)
	if err != nil {
		in.log.Error("auth_introspection_failed", "endpoint", in.endpoint, "error", err.Error())
		return nil, &failure{status: http.StatusServiceUnavailable, description: "the authorization server could not check the token; try again later", reason: "introspection_unavailable"}
	}
	id, f, until := in.judge(claims, now)
	in.store(key, cached{id: id, until: until}, now)
	return id, f
}

// judge decides on an introspection answer and how long to trust it.
func (in *introspector) judge(claims map[string]any, now time.Time) (*Identity, *failure, time.Time) {
	inactive := now.Add(inactiveCacheTTL)
	if active, _ := claims["active"].(bool); !active {
		return nil, invalidToken("the token is not active", "inactive"), inactive
	}
	until := now.Add(in.cacheMax)
	var expiry time.Time
	if exp, ok := claims["exp"].(float64); ok {
		expiry = time.Unix(int64(exp), 0)
		if !now.Before(expiry) {
			return nil, invalidToken("the token has expired", "expired"), inactive
		}
		if expiry.Before(until) {
			until = expiry
		}
	}
	if nbf, ok := claims["nbf"].(float64); ok && now.Add(DefaultLeeway).Before(time.Unix(int64(nbf), 0)) {
		return nil, invalidToken("the token is not valid yet", "not_yet_valid"), now
	}
	if iss, ok := claims["iss"].(string); ok && in.issuer != "" && iss != in.issuer {
		return nil, invalidToken("the token was issued by another issuer", "wrong_issuer"), inactive
	}
	if aud, present := claims["aud"]; present && !in.audienceOK(aud) {
		return nil, invalidToken("the token is not meant for this resource (audience)", "wrong_audience"), inactive
	}
	delete(claims, "active")
	return &Identity{Subject: subjectOf(claims), Scopes: scopesOf(claims), Claims: claims, Expiry: expiry}, nil, until
}

func (in *introspector) audienceOK(aud any) bool {
	switch aud := aud.(type) {
	case string:
		return slices.Contains(in.audiences, aud)
	case []any:
		for _, a := range aud {
			if s, ok := a.(string); ok && slices.Contains(in.audiences, s) {
				return true
			}
		}
	}
	return false
}

func (in *introspector) store(key [sha256.Size]byte, c cached, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.cache) >= introspectionCacheEntries {
		for k, e := range in.cache {
			if !now.Before(e.until) {
				delete(in.cache, k)
			}
		}
		if len(in.cache) >= introspectionCacheEntries {
			return // full of live answers: do not cache this one
		}
	}
	in.cache[key] = c
}

func (in *introspector) introspect(ctx context.Context, token string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultFetchTimeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if in.clientID != "" {
		req.SetBasicAuth(url.QueryEscape(in.clientID), url.QueryEscape(in.secret))
	}
	resp, err := in.client.Do(req)
	if err != nil {
		// The error may quote the URL, never the token (it is in the body).
		return nil, fmt.Errorf("calling the endpoint: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the endpoint answered HTTP %d", resp.StatusCode)
	}
	var claims map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxIntrospectionBytes)).Decode(&claims); err != nil {
		return nil, fmt.Errorf("decoding the answer: %w", err)
	}
	if claims == nil {
		return nil, fmt.Errorf("the answer is not a JSON object")
	}
	return claims, nil
}
