package authn

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/api2mcp/api2mcp/authn/store"
	"golang.org/x/oauth2"
)

// tokenError is an RFC 6749 §5.2 error answer.
type tokenError struct {
	status int
	code   string
	desc   string
}

func writeTokenError(w http.ResponseWriter, e *tokenError) {
	noStore(w)
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="api2mcp"`)
	}
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

func badRequest(code, desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: code, desc: desc}
}

// readTokenForm reads the form of a POST to the token or revocation
// endpoint (at most 16 KiB) into r.PostForm; false: the error is written.
func readTokenForm(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeTokenError(w, &tokenError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "use POST"})
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeTokenError(w, badRequest("invalid_request", "the body must be application/x-www-form-urlencoded"))
		return false
	}
	return true
}

// token is step 4: the token endpoint.
func (s *authServer) token(w http.ResponseWriter, r *http.Request) {
	if !readTokenForm(w, r) {
		return
	}
	if len(r.URL.RawQuery) > 0 {
		writeTokenError(w, badRequest("invalid_request", "parameters go in the body, not the URL"))
		return
	}
	for p, v := range r.PostForm {
		if len(v) > 1 {
			writeTokenError(w, badRequest("invalid_request", "the parameter "+p+" is repeated"))
			return
		}
	}
	ctx := r.Context()
	c, te := s.authenticateClient(r)
	if te != nil {
		writeTokenError(w, te)
		return
	}
	var resp map[string]any
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		resp, te = s.redeemCode(ctx, c, r.PostForm)
	case "refresh_token":
		resp, te = s.redeemRefresh(ctx, c, r.PostForm)
	case "":
		te = badRequest("invalid_request", "grant_type is required")
	default:
		te = badRequest("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
	}
	if te != nil {
		writeTokenError(w, te)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, resp)
}

// authenticateClient finds the calling client: a public one by its
// client_id, a confidential one by its secret (HTTP Basic or in the body).
func (s *authServer) authenticateClient(r *http.Request) (*client, *tokenError) {
	id, secret, basic := r.BasicAuth()
	if basic {
		if r.PostForm.Has("client_secret") {
			return nil, badRequest("invalid_request", "use one client authentication method")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: "malformed client credentials"}
		}
		if f := r.PostForm.Get("client_id"); f != "" && f != id {
			return nil, badRequest("invalid_request", "client_id differs from the authenticated client")
		}
	} else {
		id = r.PostForm.Get("client_id")
		secret = r.PostForm.Get("client_secret")
	}
	if id == "" {
		return nil, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client_id is required"}
	}
	c, err := s.clients.resolve(r.Context(), id)
	if err != nil {
		var ce *clientError
		if errors.As(err, &ce) {
			return nil, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: ce.msg}
		}
		return nil, &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "the authorization state is unavailable; retry later"}
	}
	if c.SecretHash == "" {
		if secret != "" {
			return nil, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: "this client is public: it has no secret"}
		}
		return c, nil
	}
	if secret == "" || subtle.ConstantTimeCompare([]byte(hashHex(secret)), []byte(c.SecretHash)) != 1 {
		return nil, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: "wrong or missing client secret"}
	}
	return c, nil
}

// unavailable is the answer when the state store fails.
func (s *authServer) unavailable(ctx context.Context, err error) *tokenError {
	s.log.LogAttrs(ctx, slog.LevelError, "auth_state_unavailable", slog.String("error", err.Error()))
	return &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "the authorization state is unavailable; retry later"}
}

func (s *authServer) redeemCode(ctx context.Context, c *client, form url.Values) (map[string]any, *tokenError) {
	code := form.Get("code")
	if code == "" {
		return nil, badRequest("invalid_request", "code is required")
	}
	if !strings.HasPrefix(code, codePrefix) {
		return nil, badRequest("invalid_grant", "the code is unknown, used or expired")
	}
	// Mark the code used and learn, in one step, whether it already was:
	// of two concurrent redemptions exactly one gets it. The used marker
	// keeps the grant's id until the code would have expired, so that a
	// replay revokes what the first redemption issued (RFC 6749 §4.1.2).
	key := hashKey(keyCode, code)
	var cur codeRecord
	if err := s.get(ctx, key, &cur); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.log.LogAttrs(ctx, slog.LevelWarn, "auth_token_rejected", slog.String("reason", "unknown_code"), slog.String("client_id", c.ID))
			return nil, badRequest("invalid_grant", "the code is unknown, used or expired")
		}
		return nil, s.unavailable(ctx, err)
	}
	used, _ := json.Marshal(codeRecord{Grant: grantRecord{ID: cur.Grant.ID}, Used: true})
	old, err := s.store.Swap(ctx, key, used)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, badRequest("invalid_grant", "the code is unknown, used or expired")
		}
		return nil, s.unavailable(ctx, err)
	}
	var rec codeRecord
	if err := json.Unmarshal(old, &rec); err != nil {
		return nil, badRequest("invalid_grant", "the code is unknown, used or expired")
	}
	if rec.Used {
		s.revokeGrant(ctx, rec.Grant.ID)
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth_code_replay", slog.String("client_id", c.ID), slog.String("action", "grant revoked"))
		s.event("code_replay")
		return nil, badRequest("invalid_grant", "the code was already used; what it issued is revoked")
	}
	// The code is used up whatever follows: a code tried with the wrong
	// verifier or by another client is worthless afterwards, and no grant
	// was ever made for it.
	fail := func(reason, desc string) (map[string]any, *tokenError) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth_token_rejected", slog.String("reason", reason), slog.String("client_id", c.ID))
		return nil, badRequest("invalid_grant", desc)
	}
	if rec.Grant.ClientID != c.ID {
		return fail("code_client_mismatch", "the code was issued to another client")
	}
	if r := form.Get("redirect_uri"); r != rec.RedirectURI && (rec.RedirectGiven || r != "") {
		return fail("redirect_uri_mismatch", "redirect_uri differs from the authorization request's")
	}
	verifier := form.Get("code_verifier")
	if verifier == "" {
		return fail("missing_verifier", "code_verifier is required (PKCE)")
	}
	if !pkceMatches(verifier, rec.Challenge) {
		return fail("wrong_verifier", "code_verifier does not match the code challenge")
	}
	if res := form.Get("resource"); res != "" {
		if r, ok := s.checkResource(res); !ok || r != rec.Grant.Resource {
			return fail("wrong_resource", "resource differs from the authorization request's")
		}
	}
	// The grant and the user's provider token are stored only now, for
	// as long as the login may last.
	g := rec.Grant
	var tok providerToken
	if err := s.openJSON(rec.Token, keyCode+g.ID, &tok); err != nil {
		return nil, s.unavailable(ctx, err)
	}
	ttl := g.Expires.Sub(s.now())
	if err := s.put(ctx, keyGrant+g.ID, g, ttl); err != nil {
		return nil, s.unavailable(ctx, err)
	}
	if err := s.saveUpstreamToken(ctx, g.ID, &tok, ttl); err != nil {
		s.revokeGrant(ctx, g.ID)
		return nil, s.unavailable(ctx, err)
	}
	resp, te := s.issue(ctx, &g, g.Scopes)
	if te == nil {
		s.event("code_redeemed")
	}
	return resp, te
}

func (s *authServer) redeemRefresh(ctx context.Context, c *client, form url.Values) (map[string]any, *tokenError) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, badRequest("invalid_request", "refresh_token is required")
	}
	if !strings.HasPrefix(rt, refreshPrefix) {
		return nil, badRequest("invalid_grant", "the refresh token is unknown, used or expired")
	}
	key := hashKey(keyRefresh, rt)
	var cur refreshRecord
	if err := s.get(ctx, key, &cur); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, badRequest("invalid_grant", "the refresh token is unknown, used or expired")
		}
		return nil, s.unavailable(ctx, err)
	}
	reuse := func() (map[string]any, *tokenError) {
		// A refresh token redeemed twice was copied: one of the two
		// holders is not the client. Revoke the whole grant (RFC 9700
		// §4.14.2); both must log in again.
		s.revokeGrant(ctx, cur.Grant)
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth_refresh_reuse", slog.String("client_id", c.ID), slog.String("action", "grant revoked"))
		s.event("refresh_reuse")
		return nil, badRequest("invalid_grant", "the refresh token was already used; the authorization is revoked")
	}
	if cur.Used {
		return reuse()
	}
	// Everything that can refuse the request is checked before the token
	// is used up, so that a refused refresh can be retried.
	if cur.ClientID != c.ID {
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth_token_rejected", slog.String("reason", "refresh_client_mismatch"), slog.String("client_id", c.ID))
		return nil, badRequest("invalid_grant", "the refresh token was issued to another client")
	}
	var g grantRecord
	if err := s.get(ctx, keyGrant+cur.Grant, &g); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, badRequest("invalid_grant", "the authorization has been revoked")
		}
		return nil, s.unavailable(ctx, err)
	}
	scopes := g.Scopes
	if sc, ok := form["scope"]; ok {
		// A refresh may narrow the new access token's scopes, never widen
		// them; the grant (and so the next refresh) keeps its own.
		scopes = strings.Fields(sc[0])
		if len(scopes) == 0 {
			return nil, badRequest("invalid_scope", "scope is empty")
		}
		for _, x := range scopes {
			if !slices.Contains(g.Scopes, x) {
				return nil, badRequest("invalid_scope", "a refresh cannot add scope "+x)
			}
		}
	}
	// Mark it used and learn, in one step, whether it already was: of two
	// concurrent redemptions exactly one sees it unused. The used record
	// keeps the grant, for a replay to revoke.
	used, _ := json.Marshal(refreshRecord{Grant: cur.Grant, ClientID: cur.ClientID, Used: true})
	old, err := s.store.Swap(ctx, key, used)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, badRequest("invalid_grant", "the refresh token is unknown, used or expired")
		}
		return nil, s.unavailable(ctx, err)
	}
	var prev refreshRecord
	if err := json.Unmarshal(old, &prev); err != nil || prev.Used {
		return reuse()
	}
	resp, te := s.issue(ctx, &g, scopes)
	if te != nil {
		// Nothing was issued: the token may be used again.
		s.store.Swap(ctx, key, old)
	} else {
		s.event("token_refreshed")
	}
	return resp, te
}

// issue stores and returns a new access token (with scopes, at most the
// grant's) and refresh token for g. The grant is never written here: a
// refresh racing a revocation must not bring the grant back. It is read
// again after the tokens are stored, and if it is gone they are withdrawn.
func (s *authServer) issue(ctx context.Context, g *grantRecord, scopes []string) (map[string]any, *tokenError) {
	now := s.now()
	left := g.Expires.Sub(now)
	if left <= 0 {
		return nil, badRequest("invalid_grant", "the login has expired: log in again")
	}
	at := randomToken(accessPrefix)
	rt := randomToken(refreshPrefix)
	accessTTL := min(s.accessTTL, left)
	atKey, rtKey := hashKey(keyAccess, at), hashKey(keyRefresh, rt)
	err := s.put(ctx, atKey, accessRecord{Grant: g.ID, Scopes: scopes, Expires: now.Add(accessTTL)}, accessTTL)
	if err == nil {
		err = s.put(ctx, rtKey, refreshRecord{Grant: g.ID, ClientID: g.ClientID}, min(s.refreshTTL, left))
	}
	if err != nil {
		s.store.Delete(ctx, atKey)
		return nil, s.unavailable(ctx, err)
	}
	if _, err := s.store.Get(ctx, keyGrant+g.ID); err != nil {
		s.store.Delete(ctx, atKey)
		s.store.Delete(ctx, rtKey)
		if errors.Is(err, store.ErrNotFound) {
			return nil, badRequest("invalid_grant", "the authorization has been revoked")
		}
		return nil, s.unavailable(ctx, err)
	}
	resp := map[string]any{
		"access_token":  at,
		"token_type":    "Bearer",
		"expires_in":    int(accessTTL / time.Second),
		"refresh_token": rt,
	}
	if len(scopes) > 0 {
		resp["scope"] = strings.Join(scopes, " ")
	}
	return resp, nil
}

// revokeGrant deletes a grant, which invalidates every token issued under
// it, and the user's provider token kept for it.
func (s *authServer) revokeGrant(ctx context.Context, grant string) {
	if grant == "" {
		return
	}
	s.store.Delete(ctx, keyGrant+grant)
	s.store.Delete(ctx, keyUpToken+grant)
	s.forget("", grant)
}

// revoke is RFC 7009 token revocation. A refresh token revokes its grant;
// an access token only itself. Unknown tokens are not an error.
func (s *authServer) revoke(w http.ResponseWriter, r *http.Request) {
	if !readTokenForm(w, r) {
		return
	}
	c, te := s.authenticateClient(r)
	if te != nil {
		writeTokenError(w, te)
		return
	}
	ctx := r.Context()
	tok := r.PostForm.Get("token")
	if tok == "" {
		writeTokenError(w, badRequest("invalid_request", "token is required"))
		return
	}
	switch {
	case strings.HasPrefix(tok, refreshPrefix):
		var rec refreshRecord
		if err := s.get(ctx, hashKey(keyRefresh, tok), &rec); err == nil && rec.ClientID == c.ID {
			s.event("revoked")
			s.revokeGrant(ctx, rec.Grant)
			s.store.Delete(ctx, hashKey(keyRefresh, tok))
		}
	case strings.HasPrefix(tok, accessPrefix):
		var rec accessRecord
		var g grantRecord
		if err := s.get(ctx, hashKey(keyAccess, tok), &rec); err == nil && s.get(ctx, keyGrant+rec.Grant, &g) == nil && g.ClientID == c.ID {
			s.store.Delete(ctx, hashKey(keyAccess, tok))
			s.forget(hashKey(keyAccess, tok), "")
			s.event("revoked")
		}
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
}

// providerToken is the user's token at the login provider, kept encrypted
// for user_token upstreams.
type providerToken struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

// saveUpstreamToken stores the user's provider token for the grant, for
// ttl (the grant's remaining life).
func (s *authServer) saveUpstreamToken(ctx context.Context, grant string, t *providerToken, ttl time.Duration) error {
	sealed, err := s.sealJSON(t, keyUpToken+grant)
	if err != nil {
		return err
	}
	return s.store.Put(ctx, keyUpToken+grant, sealed, ttl)
}

// ErrNoUserToken: the caller has no provider token (not logged in through
// the built-in authorization server, or the grant is gone).
var ErrNoUserToken = errors.New("no provider token for this caller: log in again")

// upstreamToken returns the provider access token of the grant, refreshed
// first when it has expired and the provider gave a refresh token. Calls of
// one grant refresh one at a time (providers that rotate refresh tokens
// would take a second use of one for theft); the others then read the
// token the first stored.
func (s *authServer) upstreamToken(ctx context.Context, grant string) (string, error) {
	if grant == "" {
		return "", ErrNoUserToken
	}
	t, err := s.readUpstreamToken(ctx, grant)
	if err != nil || s.fresh(t) {
		return t.AccessToken, err
	}
	mu := &s.refreshing[hashHex(grant)[0]%byte(len(s.refreshing))]
	mu.Lock()
	defer mu.Unlock()
	if t, err = s.readUpstreamToken(ctx, grant); err != nil || s.fresh(t) {
		return t.AccessToken, err
	}
	if t.RefreshToken == "" {
		return "", errors.New("the provider token has expired and cannot be refreshed: log in again")
	}
	var g grantRecord
	if err := s.get(ctx, keyGrant+grant, &g); err != nil {
		return "", ErrNoUserToken
	}
	// Only the refresh token goes in: the token source then refreshes
	// whatever its own clock says of the expiry.
	nt, err := s.login.refresh(ctx, &oauth2.Token{RefreshToken: t.RefreshToken})
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth_provider_refresh_failed", slog.String("error", err.Error()))
		return "", errors.New("the provider token could not be refreshed: log in again")
	}
	// oauth2 keeps the old refresh token when the provider sends none.
	t = providerToken{AccessToken: nt.AccessToken, TokenType: nt.TokenType, RefreshToken: nt.RefreshToken, Expiry: nt.Expiry}
	if err := s.saveUpstreamToken(ctx, grant, &t, g.Expires.Sub(s.now())); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth_state_unavailable", slog.String("error", err.Error()))
	}
	return t.AccessToken, nil
}

// fresh reports whether a provider token is good for at least 30s more.
func (s *authServer) fresh(t providerToken) bool {
	return t.Expiry.IsZero() || s.now().Add(30*time.Second).Before(t.Expiry)
}

// readUpstreamToken reads and decrypts the provider token of a grant. Its
// errors are fit for the agent: details go to the log.
func (s *authServer) readUpstreamToken(ctx context.Context, grant string) (providerToken, error) {
	var t providerToken
	key := keyUpToken + grant
	sealed, err := s.store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return t, ErrNoUserToken
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "auth_state_unavailable", slog.String("error", err.Error()))
		return t, errors.New("the authorization state is unavailable; retry later")
	}
	if err := s.openJSON(sealed, key, &t); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "auth_state_corrupt", slog.String("error", err.Error()))
		return t, errors.New("the provider token cannot be read: log in again")
	}
	return t, nil
}
