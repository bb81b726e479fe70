package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/api2mcp/api2mcp/authn/store"
)

// The login, step by step:
//
//  1. GET /authorize: the client and its redirect URI, then the request
//     (PKCE S256, scopes, resource); every error here gets a page, never a
//     redirect (the user has done nothing yet, and anyone can register a
//     client). A login record is stored under a fresh state, the browser
//     gets a cookie bound to it, and is sent to the provider. Errors after
//     the provider's answer go back to the client's redirect URI.
//  2. GET /callback: the state names the login record, taken once; the
//     cookie must match. The provider's code is exchanged, the user looked
//     up and checked against the allowed set; the consent page is shown.
//  3. POST /consent: the same cookie again (a cross-site form post does not
//     carry it); approval creates the grant and a single-use code, sent to
//     the client's redirect URI with state and iss (RFC 9207).
//  4. POST /token: the code, once, with its PKCE verifier, for the client
//     and redirect URI it was issued to; then refresh tokens, each once.

// authorize is step 1.
func (s *authServer) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		errorPage(w, http.StatusMethodNotAllowed, "Method not allowed", "")
		return
	}
	if err := r.ParseForm(); err != nil {
		errorPage(w, http.StatusBadRequest, "Bad authorization request", "The request's parameters cannot be read.")
		return
	}
	q := r.Form
	for _, p := range []string{"client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "response_type", "scope", "resource"} {
		if len(q[p]) > 1 {
			errorPage(w, http.StatusBadRequest, "Bad authorization request", "The parameter "+p+" is repeated.")
			return
		}
	}
	ctx := r.Context()
	c, err := s.clients.resolve(ctx, q.Get("client_id"))
	if err != nil {
		var ce *clientError
		if errors.As(err, &ce) {
			errorPage(w, http.StatusBadRequest, "Unknown client", ce.msg)
			return
		}
		s.unavailablePage(ctx, w, err)
		return
	}
	redirect, ok := c.matchRedirect(q.Get("redirect_uri"))
	if !ok {
		errorPage(w, http.StatusBadRequest, "Bad redirect URI", "The redirect_uri is not one this client registered, so the login cannot go on.")
		return
	}
	// Errors before the user has done anything are shown, not sent back:
	// anyone can register a client, so redirecting them would make this
	// server an open redirector to any registered URI (RFC 9700 §4.11.2).
	back := func(code, desc string) {
		errorPage(w, http.StatusBadRequest, "Bad authorization request", desc+" ("+code+").")
	}
	if q.Get("response_type") != "code" {
		back("unsupported_response_type", "response_type must be code")
		return
	}
	challenge := q.Get("code_challenge")
	switch {
	case challenge == "":
		back("invalid_request", "code_challenge is required (PKCE with S256)")
		return
	case q.Get("code_challenge_method") != "S256":
		back("invalid_request", "code_challenge_method must be S256")
		return
	case !validChallenge(challenge):
		back("invalid_request", "code_challenge must be 43 base64url characters (S256)")
		return
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		back("invalid_request", "response_mode must be query")
		return
	}
	if strings.Contains(" "+q.Get("prompt")+" ", " none ") {
		// Every login here goes through the provider and the consent
		// page: none can be silent.
		back("login_required", "this server always asks the user")
		return
	}
	scopes := s.grantScopes(q.Get("scope"))
	resource, ok := s.checkResource(q.Get("resource"))
	if !ok {
		back("invalid_target", "resource must be this server's URL")
		return
	}
	if len(q.Get("state")) > 1024 {
		back("invalid_request", "state is too long (at most 1024 characters)")
		return
	}
	rec := loginRecord{
		authRequest: authRequest{ClientID: c.ID, ClientName: c.Name, RedirectURI: redirect, RedirectGiven: q.Get("redirect_uri") != "",
			State: q.Get("state"), Challenge: challenge, Scopes: scopes, Resource: resource},
		Verifier: randomToken(""),
		Nonce:    randomToken(""),
	}
	state := randomToken("")
	browser := randomToken("")
	rec.Browser = hashHex(browser)
	rec.Cookie = cookieName(state)
	if err := s.put(ctx, keyLogin+hashHex(state), rec, loginTTL); err != nil {
		s.unavailablePage(ctx, w, err)
		return
	}
	s.setCookie(w, rec.Cookie, browser, loginTTL)
	target, err := s.login.authURL(ctx, state, rec.Nonce, rec.Verifier)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "auth_provider_unavailable", slog.String("error", err.Error()))
		errorPage(w, http.StatusServiceUnavailable, "Try again later", "The login provider cannot be reached.")
		return
	}
	noStore(w)
	http.Redirect(w, r, target, http.StatusFound)
}

// callback is step 2.
func (s *authServer) callback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		errorPage(w, http.StatusMethodNotAllowed, "Method not allowed", "")
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		errorPage(w, http.StatusBadRequest, "Login failed", "The provider's answer has no state: start again from your application.")
		return
	}
	var rec loginRecord
	if err := s.take(ctx, keyLogin+hashHex(state), &rec); err != nil {
		s.recordPage(ctx, w, err, "This login is unknown, used or expired: start again from your application.")
		return
	}
	if !s.browserMatches(r, rec.Cookie, rec.Browser) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth_login_rejected", slog.String("reason", "browser_mismatch"), slog.String("client_id", rec.ClientID))
		errorPage(w, http.StatusBadRequest, "Login failed", "This login was started in another browser: start again from your application.")
		return
	}
	back := func(code, desc string) {
		s.clearCookie(w, rec.Cookie)
		redirectWithError(w, r, rec.RedirectURI, rec.State, s.issuer, code, desc)
	}
	if e := q.Get("error"); e != "" {
		s.log.LogAttrs(ctx, slog.LevelInfo, "auth_login_rejected", slog.String("reason", "provider_error"), slog.String("error", truncate(e, 64)))
		back("access_denied", "the login provider refused the login")
		return
	}
	code := q.Get("code")
	if code == "" {
		back("access_denied", "the login provider sent no code")
		return
	}
	login, err := s.login.exchange(ctx, code, rec.Verifier, rec.Nonce)
	if err != nil {
		var na *notAllowedError
		if errors.As(err, &na) {
			s.log.LogAttrs(ctx, slog.LevelWarn, "auth_login_rejected", slog.String("reason", "user_not_allowed"), slog.String("user", na.user))
			s.event("login_refused")
			back("access_denied", "this account is not allowed to use this server")
			return
		}
		s.log.LogAttrs(ctx, slog.LevelError, "auth_login_failed", slog.String("error", err.Error()))
		back("server_error", "the login at the provider could not be completed")
		return
	}
	id := randomToken("")
	sealed, err := s.sealJSON(login.token, keyConsent+hashHex(id))
	if err == nil {
		err = s.put(ctx, keyConsent+hashHex(id), consentRecord{authRequest: rec.authRequest, Browser: rec.Browser, Cookie: rec.Cookie, User: login.user, Token: sealed}, loginTTL)
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "auth_state_unavailable", slog.String("error", err.Error()))
		back("temporarily_unavailable", "the authorization state is unavailable; retry later")
		return
	}
	consentPage(w, consentView{
		ID:           id,
		Client:       rec.ClientName,
		ClientID:     rec.ClientID,
		RedirectHost: redirectHost(rec.RedirectURI),
		User:         login.user,
		Scopes:       rec.Scopes,
		Server:       s.issuer,
	})
}

// consent is step 3.
func (s *authServer) consent(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		errorPage(w, http.StatusMethodNotAllowed, "Method not allowed", "")
		return
	}
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		errorPage(w, http.StatusBadRequest, "Bad request", "The form cannot be read.")
		return
	}
	id := r.PostForm.Get("consent")
	if id == "" {
		errorPage(w, http.StatusBadRequest, "Bad request", "The form is incomplete: start again from your application.")
		return
	}
	key := keyConsent + hashHex(id)
	var rec consentRecord
	if err := s.get(ctx, key, &rec); err != nil {
		s.recordPage(ctx, w, err, "This consent is unknown, used or expired: start again from your application.")
		return
	}
	// The cookie is checked before the record is used up: a forged post
	// (which carries no cookie) must not cancel the user's own login.
	if !s.browserMatches(r, rec.Cookie, rec.Browser) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "auth_login_rejected", slog.String("reason", "consent_without_cookie"), slog.String("client_id", rec.ClientID))
		errorPage(w, http.StatusForbidden, "Consent refused", "This form was not sent from the browser that logged in.")
		return
	}
	if _, err := s.store.Take(ctx, key); err != nil {
		errorPage(w, http.StatusBadRequest, "Login expired", "This consent was already answered.")
		return
	}
	s.clearCookie(w, rec.Cookie)
	if r.PostForm.Get("action") != "approve" {
		s.event("consent_denied")
		redirectWithError(w, r, rec.RedirectURI, rec.State, s.issuer, "access_denied", "the user denied the request")
		return
	}
	var tok providerToken
	if err := s.openJSON(rec.Token, key, &tok); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "auth_state_corrupt", slog.String("error", err.Error()))
		redirectWithError(w, r, rec.RedirectURI, rec.State, s.issuer, "server_error", "the login could not be completed")
		return
	}
	// The grant is made when the code is redeemed: a code never redeemed
	// leaves nothing behind but itself, for a minute.
	now := s.now().UTC()
	g := grantRecord{ID: randomToken(""), ClientID: rec.ClientID, User: rec.User, Scopes: rec.Scopes, Resource: rec.Resource,
		Created: now, Expires: now.Add(s.sessionTTL)}
	code := randomToken(codePrefix)
	sealed, err := s.sealJSON(tok, keyCode+g.ID)
	if err == nil {
		err = s.put(ctx, hashKey(keyCode, code), codeRecord{Grant: g, RedirectURI: rec.RedirectURI, RedirectGiven: rec.RedirectGiven,
			Challenge: rec.Challenge, Token: sealed}, codeTTL)
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "auth_state_unavailable", slog.String("error", err.Error()))
		redirectWithError(w, r, rec.RedirectURI, rec.State, s.issuer, "temporarily_unavailable", "the authorization state is unavailable; retry later")
		return
	}
	s.clients.touch(ctx, rec.ClientID)
	s.log.LogAttrs(ctx, slog.LevelInfo, "auth_granted", slog.String("user", rec.User.ID), slog.String("client_id", rec.ClientID))
	s.event("login")
	v := url.Values{"code": {code}, "iss": {s.issuer}}
	if rec.State != "" {
		v.Set("state", rec.State)
	}
	noStore(w)
	http.Redirect(w, r, addQuery(rec.RedirectURI, v), http.StatusSeeOther)
}

// recordPage answers a browser step whose record could not be read: an
// absent one is a login that expired (or was used), anything else is the
// store's trouble.
func (s *authServer) recordPage(ctx context.Context, w http.ResponseWriter, err error, expired string) {
	if errors.Is(err, store.ErrNotFound) {
		errorPage(w, http.StatusBadRequest, "Login expired", expired)
		return
	}
	s.unavailablePage(ctx, w, err)
}

// unavailablePage answers a browser step when the state store fails.
func (s *authServer) unavailablePage(ctx context.Context, w http.ResponseWriter, err error) {
	s.log.LogAttrs(ctx, slog.LevelError, "auth_state_unavailable", slog.String("error", err.Error()))
	errorPage(w, http.StatusServiceUnavailable, "Try again later", "The authorization state is unavailable.")
}

// redirectWithError sends an authorization error to the client's (checked)
// redirect URI, with state and iss.
func redirectWithError(w http.ResponseWriter, r *http.Request, redirect, state, issuer, code, desc string) {
	v := url.Values{"error": {code}, "error_description": {desc}, "iss": {issuer}}
	if state != "" {
		v.Set("state", state)
	}
	noStore(w)
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, addQuery(redirect, v), status)
}

// addQuery appends v to u's query (a registered redirect URI may have one).
func addQuery(u string, v url.Values) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + v.Encode()
}

// cookieName is the login cookie's name for one login: distinct per login,
// so that two logins in one browser do not overwrite each other's.
func cookieName(state string) string {
	return "a2m_login_" + hashHex(state)[:16]
}

func (s *authServer) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

func (s *authServer) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// browserMatches reports whether r carries the login cookie whose hash the
// record holds.
func (s *authServer) browserMatches(r *http.Request, name, hash string) bool {
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" {
		return false
	}
	got := hashHex(c.Value)
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// validChallenge reports whether c is an S256 code challenge: the base64url
// of 32 bytes.
func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil
}

// pkceMatches reports whether verifier hashes to challenge (RFC 7636 S256).
func pkceMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for _, c := range verifier {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	h := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(h[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// redirectHost is what the consent page shows of a redirect URI: where the
// code will go.
func redirectHost(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	if p.Host == "" {
		return p.Scheme + ":"
	}
	if isLoopbackHost(p.Hostname()) {
		return "this computer (" + p.Hostname() + ")"
	}
	return p.Host
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
