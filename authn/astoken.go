package authn

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
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

// token is step 4: the token endpoint.
func (s *authServer) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeTokenError(w, &tokenError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "use POST"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeTokenError(w, badRequest("invalid_request", "the body must be application/x-www-form-urlencoded"))
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

func (s *authServer) redeemCode(ctx context.Context, c *client, form map[string][]string) (map[string]any, *tokenError) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	code := get("code")
	if code == "" {
		return nil, badRequest("invalid_request", "code is required")
	}
	var rec codeRecord
	if err := s.take(ctx, hashKey(keyCode, code), &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// A code presented twice may have been stolen: RFC 6749 §4.1.2
			// says to revoke what it issued. Its record is gone (taken by
			// the first use), so the first tokens stand; the replay gets
			// nothing.
			s.log.LogAttrs(ctx, slog.LevelWarn, "auth_token_rejected", slog.String("reason", "unknown_code"), slog.String("client_id", c.ID))
			return nil, badRequest("invalid_grant", "the code is unknown, used or expired")
		}
		return nil, &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "the authorization state is unavailable; retry later"}
	}
	fail := func(reason, desc string) (map[string]any, *tokenError) {
		// The code is used up either way; its grant goes too, so that a
		// code stolen and tried with the wrong verifier is worthless.
		s.revokeGrant(ctx, rec.Grant)
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth_token_rejected", slog.String("reason", reason), slog.String("client_id", c.ID))
		return nil, badRequest("invalid_grant", desc)
	}
	if rec.ClientID != c.ID {
		return fail("code_client_mismatch", "the code was issued to another client")
	}
	if get("redirect_uri") != rec.RedirectURI {
		return fail("redirect_uri_mismatch", "redirect_uri differs from the authorization request's")
	}
	verifier := get("code_verifier")
	if verifier == "" {
		return fail("missing_verifier", "code_verifier is required (PKCE)")
	}
	if !pkceMatches(verifier, rec.Challenge) {
		return fail("wrong_verifier", "code_verifier does not match the code challenge")
	}
	if res := get("resource"); res != "" {
		if r, ok := s.checkResource(res); !ok || r != rec.Resource {
			return fail("wrong_resource", "resource differs from the authorization request's")
		}
	}
	var g grantRecord
	if err := s.get(ctx, keyGrant+rec.Grant, &g); err != nil {
		return nil, badRequest("invalid_grant", "the authorization has been revoked")
	}
	return s.issue(ctx, &g)
}

func (s *authServer) redeemRefresh(ctx context.Context, c *client, form map[string][]string) (map[string]any, *tokenError) {
	var rt string
	if v := form["refresh_token"]; len(v) > 0 {
		rt = v[0]
	}
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
		return nil, &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "the authorization state is unavailable; retry later"}
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
		return nil, &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "the authorization state is unavailable; retry later"}
	}
	var prev refreshRecord
	if err := json.Unmarshal(old, &prev); err != nil {
		return nil, badRequest("invalid_grant", "the refresh token is unknown, used or expired")
	}
	if prev.Used {
		// A refresh token redeemed twice was copied: one of the two
		// holders is not the client. Revoke the whole grant (RFC 9700
		// §4.14.2); both must log in again.
		s.revokeGrant(ctx, prev.Grant)
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth_refresh_reuse", slog.String("client_id", c.ID), slog.String("action", "grant revoked"))
		return nil, badRequest("invalid_grant", "the refresh token was already used; the authorization is revoked")
	}
	if prev.ClientID != c.ID {
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth_token_rejected", slog.String("reason", "refresh_client_mismatch"), slog.String("client_id", c.ID))
		return nil, badRequest("invalid_grant", "the refresh token was issued to another client")
	}
	var g grantRecord
	if err := s.get(ctx, keyGrant+prev.Grant, &g); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, badRequest("invalid_grant", "the authorization has been revoked")
		}
		return nil, &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "the authorization state is unavailable; retry later"}
	}
	if sc := form["scope"]; len(sc) > 0 && sc[0] != "" {
		// A refresh may narrow the scopes, never widen them.
		for _, x := range strings.Fields(sc[0]) {
			if !contains(g.Scopes, x) {
				return nil, badRequest("invalid_scope", "a refresh cannot add scope "+x)
			}
		}
		g.Scopes = strings.Fields(sc[0])
	}
	// The grant lives as long as its newest refresh token.
	if err := s.put(ctx, keyGrant+g.ID, g, s.refreshTTL); err != nil {
		return nil, &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "the authorization state is unavailable; retry later"}
	}
	return s.issue(ctx, &g)
}

// issue stores and returns a new access and refresh token for g.
func (s *authServer) issue(ctx context.Context, g *grantRecord) (map[string]any, *tokenError) {
	at := randomToken(accessPrefix)
	rt := randomToken(refreshPrefix)
	exp := s.now().Add(s.accessTTL)
	err := s.put(ctx, hashKey(keyAccess, at), accessRecord{Grant: g.ID, Expires: exp}, s.accessTTL)
	if err == nil {
		err = s.put(ctx, hashKey(keyRefresh, rt), refreshRecord{Grant: g.ID, ClientID: g.ClientID}, s.refreshTTL)
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "auth_state_unavailable", slog.String("error", err.Error()))
		return nil, &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "the authorization state is unavailable; retry later"}
	}
	resp := map[string]any{
		"access_token":  at,
		"token_type":    "Bearer",
		"expires_in":    int(s.accessTTL / time.Second),
		"refresh_token": rt,
	}
	if len(g.Scopes) > 0 {
		resp["scope"] = strings.Join(g.Scopes, " ")
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
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeTokenError(w, &tokenError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "use POST"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeTokenError(w, badRequest("invalid_request", "the body must be application/x-www-form-urlencoded"))
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
			s.revokeGrant(ctx, rec.Grant)
			s.store.Delete(ctx, hashKey(keyRefresh, tok))
		}
	case strings.HasPrefix(tok, accessPrefix):
		var rec accessRecord
		var g grantRecord
		if err := s.get(ctx, hashKey(keyAccess, tok), &rec); err == nil && s.get(ctx, keyGrant+rec.Grant, &g) == nil && g.ClientID == c.ID {
			s.store.Delete(ctx, hashKey(keyAccess, tok))
			s.forget(hashKey(keyAccess, tok), "")
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

func (s *authServer) saveUpstreamToken(ctx context.Context, grant string, t *providerToken) error {
	sealed, err := s.sealJSON(t, keyUpToken+grant)
	if err != nil {
		return err
	}
	return s.store.Put(ctx, keyUpToken+grant, sealed, s.refreshTTL)
}

// ErrNoUserToken: the caller has no provider token (not logged in through
// the built-in authorization server, or the grant is gone).
var ErrNoUserToken = errors.New("no provider token for this caller: log in again")

// upstreamToken returns the provider access token of the grant, refreshed
// first when it has expired and the provider gave a refresh token.
func (s *authServer) upstreamToken(ctx context.Context, grant string) (string, error) {
	if grant == "" {
		return "", ErrNoUserToken
	}
	key := keyUpToken + grant
	sealed, err := s.store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrNoUserToken
	}
	if err != nil {
		return "", errors.New("the authorization state is unavailable")
	}
	var t providerToken
	if err := s.openJSON(sealed, key, &t); err != nil {
		return "", err
	}
	if t.Expiry.IsZero() || s.now().Add(30*time.Second).Before(t.Expiry) {
		return t.AccessToken, nil
	}
	if t.RefreshToken == "" {
		return "", errors.New("the provider token has expired and cannot be refreshed: log in again")
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
	if err := s.saveUpstreamToken(ctx, grant, &t); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth_state_unavailable", slog.String("error", err.Error()))
	}
	return t.AccessToken, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
