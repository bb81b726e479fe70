package authn

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// discoveryRetry is the least time between two attempts to discover the
// issuer's metadata after one failed.
const discoveryRetry = 10 * time.Second

// rateLimitWait bounds, for a token with an unknown kid, the wait for the
// refresh limiter and the refresh itself (jwkset runs the fetch under the
// same deadline, so it must be a fetch's worth). The limiter refuses at once
// when its next slot is further away than that, so a token with an unknown
// kid shortly after a refresh is rejected without waiting; tokens with known
// keys never wait.
const rateLimitWait = DefaultFetchTimeout

// maxMetadataBytes caps an authorization server's metadata document.
const maxMetadataBytes = 1 << 20

// jwtVerifier checks JWT access tokens against the issuer's key set.
type jwtVerifier struct {
	issuer     string
	jwksURL    string // configured; else discovered
	parser     *jwt.Parser
	client     *http.Client
	log        *slog.Logger
	now        func() time.Time
	refresh    time.Duration
	unknownKID time.Duration

	verified *verifiedCache

	mu        sync.Mutex
	kf        keyfunc.Keyfunc
	lastTry   time.Time
	stop      context.CancelFunc // ends the background refresh
	discovery func(ctx context.Context) (string, error)
}

func newJWTVerifier(spec OAuthSpec, resource string, o *Options) (*jwtVerifier, []error) {
	var errs []error
	fail := func(field, format string, a ...any) {
		errs = append(errs, &FieldError{Field: "oauth." + field, Err: fmt.Errorf(format, a...)})
	}
	if spec.Issuer == "" {
		fail("issuer", "required: the authorization server's issuer identifier")
	} else if !absoluteHTTP(spec.Issuer) {
		fail("issuer", "%q is not an absolute http(s) URL", spec.Issuer)
	}
	if spec.JWKSURL != "" && !absoluteHTTP(spec.JWKSURL) {
		fail("jwks_url", "%q is not an absolute http(s) URL", spec.JWKSURL)
	}
	algs := spec.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	for i, alg := range spec.Algorithms {
		switch {
		case strings.EqualFold(alg, "none"):
			fail(fmt.Sprintf("algorithms[%d]", i), `"none" is never accepted: unsigned tokens prove nothing`)
		case strings.HasPrefix(strings.ToUpper(alg), "HS"):
			fail(fmt.Sprintf("algorithms[%d]", i), "%q is refused: HMAC needs a shared secret, and with a public key it lets anyone forge tokens", alg)
		case !asymmetric[alg]:
			fail(fmt.Sprintf("algorithms[%d]", i), "%q is not one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA", alg)
		}
	}
	audiences := []string{}
	if resource != "" {
		audiences = append(audiences, resource)
	}
	for i, aud := range spec.Audiences {
		if aud == "" {
			fail(fmt.Sprintf("audiences[%d]", i), "empty")
			continue
		}
		audiences = append(audiences, aud)
	}
	// A trailing slash is not a different resource.
	for _, aud := range audiences {
		if alt, ok := strings.CutSuffix(aud, "/"); ok {
			audiences = append(audiences, alt)
		} else if absoluteHTTP(aud) {
			audiences = append(audiences, aud+"/")
		}
	}
	leeway := spec.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	if leeway < 0 {
		fail("leeway", "must not be negative")
	}
	v := &jwtVerifier{
		issuer:     spec.Issuer,
		jwksURL:    spec.JWKSURL,
		client:     o.Client,
		log:        o.Logger,
		now:        o.Now,
		refresh:    spec.JWKSRefresh,
		unknownKID: spec.UnknownKIDRefresh,
		verified:   newVerifiedCache(jwtCacheEntries, jwtCacheTTL),
	}
	if v.refresh == 0 {
		v.refresh = DefaultJWKSRefresh
	}
	if v.unknownKID == 0 {
		v.unknownKID = DefaultUnknownKIDRefresh
	}
	if v.refresh < 0 {
		fail("jwks_refresh", "must not be negative")
	}
	if v.unknownKID < 0 {
		fail("unknown_kid_refresh", "must not be negative")
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithIssuer(spec.Issuer),
		jwt.WithAudience(audiences...),
		jwt.WithLeeway(leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(o.Now),
	)
	v.discovery = v.discover
	return v, errs
}

func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// keys returns the key set, creating it on first use: the JWKS URL is
// discovered from the issuer's metadata unless configured, and fetched.
// Failures are retried at most every discoveryRetry.
func (v *jwtVerifier) keys(ctx context.Context) (keyfunc.Keyfunc, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.kf != nil {
		return v.kf, nil
	}
	if !v.lastTry.IsZero() && v.now().Sub(v.lastTry) < discoveryRetry {
		return nil, errUnavailable
	}
	v.lastTry = v.now()
	jwksURL := v.jwksURL
	if jwksURL == "" {
		u, err := v.discovery(ctx)
		if err != nil {
			v.log.Error("auth_discovery_failed", "issuer", v.issuer, "error", err.Error())
			return nil, errUnavailable
		}
		jwksURL = u
	}
	// The key set lives as long as the server, not the request that
	// created it; Close ends its refresh.
	bg, stop := context.WithCancel(context.Background())
	noFirstErr := true
	kf, err := keyfunc.NewDefaultOverrideCtx(bg, []string{jwksURL}, keyfunc.Override{
		Client:                    v.client,
		HTTPTimeout:               DefaultFetchTimeout,
		NoErrorReturnFirstHTTPReq: &noFirstErr,
		RateLimitWaitMax:          rateLimitWait,
		RefreshInterval:           v.refresh,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(v.unknownKID), 1),
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				v.log.Error("auth_jwks_fetch_failed", "jwks_url", u, "error", err.Error())
			}
		},
	})
	if err != nil {
		stop()
		v.log.Error("auth_jwks_setup_failed", "jwks_url", jwksURL, "error", err.Error())
		return nil, errUnavailable
	}
	v.kf, v.stop = kf, stop
	return kf, nil
}

func (v *jwtVerifier) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stop != nil {
		v.stop()
	}
}

// discover finds jwks_uri in the issuer's RFC 8414 metadata, or failing
// that its OpenID Connect discovery document. The document must name the
// same issuer.
func (v *jwtVerifier) discover(ctx context.Context) (string, error) {
	var errs []error
	for _, u := range metadataURLs(v.issuer) {
		jwks, err := v.fetchMetadata(ctx, u)
		if err == nil {
			return jwks, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// metadataURLs lists where an issuer's metadata may be: RFC 8414 inserts the
// well-known path before the issuer's path; OpenID Connect appends it.
func metadataURLs(issuer string) []string {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil
	}
	path := strings.TrimSuffix(u.Path, "/")
	base := u.Scheme + "://" + u.Host
	return []string{
		base + "/.well-known/oauth-authorization-server" + path,
		base + path + "/.well-known/openid-configuration",
	}
}

func (v *jwtVerifier) fetchMetadata(ctx context.Context, u string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetching %s: HTTP %d", u, resp.StatusCode)
	}
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMetadataBytes)).Decode(&meta); err != nil {
		return "", fmt.Errorf("decoding %s: %w", u, err)
	}
	if meta.Issuer != v.issuer {
		return "", fmt.Errorf("%s names issuer %q, want %q", u, meta.Issuer, v.issuer)
	}
	if !absoluteHTTP(meta.JWKSURI) {
		return "", fmt.Errorf("%s has no usable jwks_uri", u)
	}
	return meta.JWKSURI, nil
}

// verify checks a JWT: signature with an allowed algorithm and a key of the
// issuer's set, exact issuer, audience, exp (required) and nbf with leeway.
// A token verified before is answered from v.verified (see verifiedCache).
func (v *jwtVerifier) verify(ctx context.Context, token string) (*Identity, *failure) {
	kf, err := v.keys(ctx)
	if err != nil {
		return nil, &failure{status: http.StatusServiceUnavailable, description: "the authorization server's keys are unavailable; try again later", reason: "jwks_unavailable"}
	}
	hash := sha256.Sum256([]byte(token))
	if id, ok := v.verified.get(ctx, hash, v.now(), kf); ok {
		return id, nil
	}
	// The key that verifies the signature, remembered for the cache.
	var kid string
	var used crypto.PublicKey
	keyOf := kf.KeyfuncCtx(ctx)
	claims := jwt.MapClaims{}
	_, err = v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		k, err := keyOf(t)
		if err == nil {
			kid, _ = t.Header["kid"].(string)
			used, _ = k.(crypto.PublicKey)
		}
		return k, err
	})
	if err != nil {
		if errors.Is(err, keyfunc.ErrKeyfunc) || errors.Is(err, jwt.ErrTokenUnverifiable) {
			// No key for this token: if the set is empty the issuer's
			// JWKS could not be fetched, and the server must fail closed
			// without blaming the token.
			if all, rerr := kf.Storage().KeyReadAll(ctx); rerr == nil && len(all) == 0 {
				return nil, &failure{status: http.StatusServiceUnavailable, description: "the authorization server's keys are unavailable; try again later", reason: "jwks_unavailable"}
			}
		}
		return nil, jwtFailure(err)
	}
	id := &Identity{Subject: subjectOf(claims), Scopes: scopesOf(claims), Claims: map[string]any(claims)}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.Expiry = exp.Time
	}
	// A token without a kid was checked against every key of the set
	// (used is then the set, not a key): it is not cached.
	if _, isKey := used.(interface{ Equal(crypto.PublicKey) bool }); kid != "" && isKey && !id.Expiry.IsZero() {
		v.verified.put(hash, &verifiedToken{id: id, kid: kid, key: used}, v.now(), id.Expiry)
	}
	return id, nil
}

// jwtFailure describes a rejected JWT in words that never quote it.
func jwtFailure(err error) *failure {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalidToken("the token is malformed", "malformed_token")
	case errors.Is(err, jwt.ErrTokenExpired):
		return invalidToken("the token has expired", "expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return invalidToken("the token is not valid yet", "not_yet_valid")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return invalidToken("the token was issued by another issuer", "wrong_issuer")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return invalidToken("the token is not meant for this resource (audience)", "wrong_audience")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return invalidToken("the token lacks a required claim", "missing_claim")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalidToken("the token signature is invalid", "bad_signature")
	case errors.Is(err, keyfunc.ErrKeyfunc), errors.Is(err, jwt.ErrTokenUnverifiable):
		return invalidToken("the token is signed with an unknown key or algorithm", "unverifiable")
	}
	return invalidToken("the token is invalid", "invalid")
}
