package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// provider is where users log in: GitHub, Google or an OpenID Connect
// provider, through golang.org/x/oauth2 (and go-oidc for ID tokens).
type provider interface {
	// authURL is where the browser goes to log in.
	authURL(ctx context.Context, state, nonce, verifier string) (string, error)
	// exchange redeems the provider's code and returns the user, checked
	// against the allowed set (*notAllowedError), and their token.
	exchange(ctx context.Context, code, verifier, nonce string) (*providerLogin, error)
	// refresh renews an expired provider token.
	refresh(ctx context.Context, t *oauth2.Token) (*oauth2.Token, error)
}

type providerLogin struct {
	user  User
	token providerToken
}

// notAllowedError is a user outside the allowed set.
type notAllowedError struct{ user string }

func (e *notAllowedError) Error() string { return "user " + e.user + " is not allowed" }

// Google's fixed OpenID Connect issuer.
const googleIssuer = "https://accounts.google.com"

// maxProviderBytes caps a provider API answer.
const maxProviderBytes = 1 << 20

func newProvider(spec LoginSpec, callback string, o *Options, fail func(field, format string, a ...any)) provider {
	if spec.ClientID == "" {
		fail("client_id", "required: the OAuth app's client id at the provider")
	}
	if spec.ClientSecret == "" {
		fail("client_secret", "required: the OAuth app's client secret, written as ${VAR} or ${file:/path}")
	}
	if len(spec.AllowedUsers) == 0 && len(spec.AllowedOrgs) == 0 && len(spec.AllowedDomains) == 0 && !spec.AllowAnyUser {
		fail("allowed_users", "set allowed_users, allowed_orgs or allowed_domains (or allow_any_user: true to let anyone with an account at the provider in)")
	}
	if spec.AllowAnyUser && (len(spec.AllowedUsers) > 0 || len(spec.AllowedOrgs) > 0 || len(spec.AllowedDomains) > 0) {
		fail("allow_any_user", "set together with an allowed_* list: choose one")
	}
	for i, d := range spec.AllowedDomains {
		if d == "" || strings.ContainsAny(d, "@/ ") {
			fail(fmt.Sprintf("allowed_domains[%d]", i), "%q is not a domain name", d)
		}
	}
	base := oauth2.Config{ClientID: spec.ClientID, ClientSecret: spec.ClientSecret, RedirectURL: callback}
	allowed := allowList{users: spec.AllowedUsers, orgs: spec.AllowedOrgs, domains: spec.AllowedDomains, any: spec.AllowAnyUser}
	switch spec.Provider {
	case ProviderGitHub:
		if spec.Issuer != "" {
			fail("issuer", "set, but provider github has none (auth_url, token_url and api_url set GitHub Enterprise)")
		}
		if len(spec.AllowedDomains) > 0 {
			fail("allowed_domains", "not supported by provider github (GitHub emails can be changed by their owner): use allowed_users or allowed_orgs")
		}
		for i, u := range spec.AllowedUsers {
			if _, err := strconv.ParseInt(u, 10, 64); err != nil {
				fail(fmt.Sprintf("allowed_users[%d]", i), "%q is not a GitHub numeric user id (logins can be renamed; find the id at https://api.github.com/users/LOGIN)", u)
			}
		}
		p := &githubProvider{cfg: base, api: "https://api.github.com", client: o.Client, allowed: allowed}
		p.cfg.Endpoint = oauth2.Endpoint{AuthURL: "https://github.com/login/oauth/authorize", TokenURL: "https://github.com/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams}
		for field, v := range map[string]*string{"auth_url": &p.cfg.Endpoint.AuthURL, "token_url": &p.cfg.Endpoint.TokenURL, "api_url": &p.api} {
			val := map[string]string{"auth_url": spec.AuthURL, "token_url": spec.TokenURL, "api_url": spec.APIURL}[field]
			if val == "" {
				continue
			}
			if !absoluteHTTP(val) {
				fail(field, "%q is not an absolute http(s) URL", val)
			}
			*v = strings.TrimSuffix(val, "/")
		}
		scopes := []string{"read:user"}
		if len(spec.AllowedOrgs) > 0 {
			scopes = append(scopes, "read:org")
		}
		p.cfg.Scopes = mergeScopes(scopes, spec.Scopes)
		return p
	case ProviderGoogle, ProviderOIDC:
		issuer := spec.Issuer
		if spec.Provider == ProviderGoogle {
			if issuer != "" && issuer != googleIssuer {
				fail("issuer", "provider google's issuer is %s", googleIssuer)
			}
			issuer = googleIssuer
		} else if !absoluteHTTP(issuer) {
			fail("issuer", "required for provider oidc: the provider's issuer URL (its /.well-known/openid-configuration is read)")
		}
		if len(spec.AllowedOrgs) > 0 {
			fail("allowed_orgs", "only provider github has organisations")
		}
		if spec.AuthURL != "" || spec.TokenURL != "" || spec.APIURL != "" {
			fail("auth_url", "auth_url, token_url and api_url are for provider github; an OpenID Connect provider's endpoints come from its issuer")
		}
		base.Scopes = mergeScopes([]string{oidc.ScopeOpenID, "email", "profile"}, spec.Scopes)
		return &oidcProvider{name: spec.Provider, issuer: issuer, cfg: base, client: o.Client, allowed: allowed}
	case "":
		fail("provider", "required: github, google or oidc")
	default:
		fail("provider", "%q is not github, google or oidc", spec.Provider)
	}
	return nil
}

func mergeScopes(base, extra []string) []string {
	out := slices.Clone(base)
	for _, s := range extra {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// allowList is who may log in.
type allowList struct {
	users, orgs, domains []string
	any                  bool
}

// emailDomain returns the domain of a verified email address, lower case.
func emailDomain(email string, verified bool) string {
	if !verified {
		return ""
	}
	_, d, ok := strings.Cut(email, "@")
	if !ok {
		return ""
	}
	return strings.ToLower(d)
}

func (a allowList) domainOK(domain string) bool {
	if domain == "" {
		return false
	}
	for _, d := range a.domains {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}

// githubProvider logs users in with a GitHub (or GitHub Enterprise) OAuth
// app.
type githubProvider struct {
	cfg     oauth2.Config
	api     string
	client  *http.Client
	allowed allowList
}

func (p *githubProvider) authURL(_ context.Context, state, _, verifier string) (string, error) {
	return p.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("allow_signup", "false")), nil
}

func (p *githubProvider) exchange(ctx context.Context, code, verifier, _ string) (*providerLogin, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.client)
	tok, err := p.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("github token exchange: %w", redactOAuthError(err))
	}
	var u struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	if err := p.get(ctx, tok.AccessToken, "/user", &u); err != nil {
		return nil, err
	}
	if u.ID <= 0 {
		return nil, errors.New("github /user: no numeric id")
	}
	id := strconv.FormatInt(u.ID, 10)
	user := User{ID: "github:" + id, Provider: ProviderGitHub, Login: u.Login, Name: u.Name, Email: u.Email}
	ok := p.allowed.any || slices.Contains(p.allowed.users, id)
	if !ok && len(p.allowed.orgs) > 0 {
		ok, err = p.inOrg(ctx, tok.AccessToken)
		if err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, &notAllowedError{user: user.ID}
	}
	return &providerLogin{user: user, token: providerToken{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}}, nil
}

// inOrg reports whether the user belongs to an allowed organisation (by
// login or numeric id), reading at most ten pages of /user/orgs.
func (p *githubProvider) inOrg(ctx context.Context, token string) (bool, error) {
	for page := 1; page <= 10; page++ {
		var orgs []struct {
			ID    int64  `json:"id"`
			Login string `json:"login"`
		}
		if err := p.get(ctx, token, "/user/orgs?per_page=100&page="+strconv.Itoa(page), &orgs); err != nil {
			return false, err
		}
		for _, o := range orgs {
			for _, want := range p.allowed.orgs {
				if strings.EqualFold(want, o.Login) || want == strconv.FormatInt(o.ID, 10) {
					return true, nil
				}
			}
		}
		if len(orgs) < 100 {
			break
		}
	}
	return false, nil
}

// get reads a GitHub API resource as the user.
func (p *githubProvider) get(ctx context.Context, token, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.api+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("github %s: %w", strings.SplitN(path, "?", 2)[0], err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProviderBytes))
	if err != nil {
		return fmt.Errorf("github %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("github %s: HTTP %d", strings.SplitN(path, "?", 2)[0], resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("github %s: %w", strings.SplitN(path, "?", 2)[0], err)
	}
	return nil
}

func (p *githubProvider) refresh(ctx context.Context, t *oauth2.Token) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.client)
	nt, err := p.cfg.TokenSource(ctx, t).Token()
	return nt, redactOAuthError(err)
}

// oidcProvider logs users in with an OpenID Connect provider (Google is
// one with a fixed issuer and the hd claim).
type oidcProvider struct {
	name    string
	issuer  string
	cfg     oauth2.Config
	client  *http.Client
	allowed allowList

	mu       sync.Mutex
	provider *oidc.Provider // discovered on first use
}

// discover reads the issuer's metadata once (retried on the next login if
// it failed).
func (p *oidcProvider) discover(ctx context.Context) (*oidc.Provider, oauth2.Config, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider == nil {
		pr, err := oidc.NewProvider(oidc.ClientContext(ctx, p.client), p.issuer)
		if err != nil {
			return nil, p.cfg, fmt.Errorf("%s discovery: %w", p.name, err)
		}
		p.provider = pr
	}
	cfg := p.cfg
	cfg.Endpoint = p.provider.Endpoint()
	return p.provider, cfg, nil
}

func (p *oidcProvider) authURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	_, cfg, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if p.name == ProviderGoogle {
		// A refresh token, so that user_token upstreams keep working
		// after Google's one-hour access token expires.
		opts = append(opts, oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("prompt", "consent"))
		if len(p.allowed.domains) == 1 {
			opts = append(opts, oauth2.SetAuthURLParam("hd", p.allowed.domains[0]))
		}
	}
	return cfg.AuthCodeURL(state, opts...), nil
}

func (p *oidcProvider) exchange(ctx context.Context, code, verifier, nonce string) (*providerLogin, error) {
	pr, cfg, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	ctx = oidc.ClientContext(ctx, p.client)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("%s token exchange: %w", p.name, redactOAuthError(err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("%s: the token response has no id_token", p.name)
	}
	idt, err := pr.Verifier(&oidc.Config{ClientID: p.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%s id_token: %w", p.name, err)
	}
	if idt.Nonce != nonce {
		return nil, fmt.Errorf("%s id_token: nonce mismatch", p.name)
	}
	var c struct {
		Sub           string `json:"sub"`
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
		Name          string `json:"name"`
		Username      string `json:"preferred_username"`
		HD            string `json:"hd"`
	}
	if err := idt.Claims(&c); err != nil {
		return nil, fmt.Errorf("%s id_token claims: %w", p.name, err)
	}
	if c.Sub == "" {
		return nil, fmt.Errorf("%s id_token: no sub", p.name)
	}
	// Some providers send email_verified as a string.
	verified := c.EmailVerified == true || c.EmailVerified == "true"
	// An address the provider has not verified is anyone's claim: it is
	// neither shown to expressions nor used to allow the user in.
	email := c.Email
	if !verified {
		email = ""
	}
	user := User{ID: p.name + ":" + c.Sub, Provider: p.name, Login: c.Username, Name: c.Name, Email: email}
	ok := p.allowed.any || slices.Contains(p.allowed.users, c.Sub) || p.allowed.domainOK(emailDomain(c.Email, verified))
	if !ok && p.name == ProviderGoogle && c.HD != "" {
		ok = p.allowed.domainOK(c.HD)
	}
	if !ok {
		return nil, &notAllowedError{user: user.ID}
	}
	return &providerLogin{user: user, token: providerToken{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}}, nil
}

func (p *oidcProvider) refresh(ctx context.Context, t *oauth2.Token) (*oauth2.Token, error) {
	_, cfg, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	nt, err := cfg.TokenSource(oidc.ClientContext(ctx, p.client), t).Token()
	return nt, redactOAuthError(err)
}

// redactOAuthError keeps an oauth2 error's status and error code, and
// drops the provider's response body (it could echo a code or a token).
func redactOAuthError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := "refused"
		if re.Response != nil {
			msg = "HTTP " + strconv.Itoa(re.Response.StatusCode)
		}
		if re.ErrorCode != "" {
			msg += ": " + re.ErrorCode
		}
		return errors.New(msg)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
