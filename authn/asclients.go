package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/api2mcp/api2mcp/authn/store"
)

// Limits of client registration and client metadata documents.
const (
	// maxClientDocBytes caps a client metadata document.
	maxClientDocBytes = 5 << 10
	// clientDocTimeout bounds fetching one.
	clientDocTimeout = 5 * time.Second
	// clientDocTTL is how long a fetched document is trusted.
	clientDocTTL = 10 * time.Minute
	// clientDocEntries bounds the documents cached.
	clientDocEntries = 1000
	// maxRedirectURIs caps the redirect URIs of one client.
	maxRedirectURIs = 10
	// maxRegistrationBytes caps a registration request.
	maxRegistrationBytes = 16 << 10
	// unusedClientTTL is how long a registered client is kept before its
	// first authorization (then clientTTL): registrations nobody uses do
	// not pile up.
	unusedClientTTL = 24 * time.Hour
	// registrationsPerMinute bounds /register per client address.
	registrationsPerMinute = 20
	// failedDocTTL is how long a client metadata document that could not
	// be used is not fetched again.
	failedDocTTL = time.Minute
	// maxClientIDLen caps a client id (a metadata document's URL).
	maxClientIDLen = 900
)

// addrLimiter is a token bucket per client address, for the endpoints that
// write to the state without credentials. It tracks at most 10,000
// addresses (when full, an arbitrary one is forgotten).
type addrLimiter struct {
	per int
	now func() time.Time

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newAddrLimiter(perMinute int, now func() time.Time) *addrLimiter {
	return &addrLimiter{per: perMinute, now: now, m: map[string]*rate.Limiter{}}
}

// allow takes a token for the request's address.
func (l *addrLimiter) allow(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[host]
	if !ok {
		if len(l.m) >= 10000 {
			for k := range l.m {
				delete(l.m, k)
				break
			}
		}
		lim = rate.NewLimiter(rate.Limit(float64(l.per)/60), l.per)
		l.m[host] = lim
	}
	return lim.AllowN(l.now(), 1)
}

// client is a registered (RFC 7591) or metadata-document client.
type client struct {
	ID           string   `json:"client_id"`
	Name         string   `json:"client_name,omitempty"`
	URI          string   `json:"client_uri,omitempty"`
	RedirectURIs []string `json:"redirect_uris"`
	SecretHash   string   `json:"secret_hash,omitempty"` // confidential clients
	AuthMethod   string   `json:"token_endpoint_auth_method"`
	IssuedAt     int64    `json:"client_id_issued_at"`
}

// clientError is a client that cannot be used, with a message safe to show.
type clientError struct{ msg string }

func (e *clientError) Error() string { return e.msg }

// clientResolver finds clients: registered ones in the store, https client
// ids by their metadata document.
type clientResolver struct {
	as           *authServer
	cimd         bool
	allowPrivate bool
	http         *http.Client

	// docs are the checked documents, at most clientDocEntries; when full,
	// an arbitrary one (map order) makes room, as in verifiedCache.
	mu   sync.Mutex
	docs map[string]cachedDoc
}

// cachedDoc is a checked client metadata document, or the reason one
// could not be used, and when that expires.
type cachedDoc struct {
	c       *client
	err     *clientError
	expires time.Time
}

func newClientResolver(as *authServer, cimd, allowPrivate bool, o *Options) *clientResolver {
	rt := o.ClientDocTransport
	if rt == nil {
		rt = guardedTransport(allowPrivate)
	}
	return &clientResolver{
		as:           as,
		cimd:         cimd,
		allowPrivate: allowPrivate,
		http: &http.Client{
			Transport: rt,
			Timeout:   clientDocTimeout,
			// A document is read from its own URL: a redirect elsewhere
			// would make the id mean something else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		docs: map[string]cachedDoc{},
	}
}

// guardedTransport dials only public addresses (unless allowPrivate), so
// that a client id cannot make the server reach its own network
// (169.254.169.254, localhost, 10/8…). The check runs on the address
// actually dialled, after DNS resolution.
func guardedTransport(allowPrivate bool) http.RoundTripper {
	d := &net.Dialer{Timeout: clientDocTimeout}
	if !allowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if !publicAddr(ap.Addr()) {
				return fmt.Errorf("address %s is not public", ap.Addr())
			}
			return nil
		}
	}
	return &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   clientDocTimeout,
		ResponseHeaderTimeout: clientDocTimeout,
		MaxIdleConns:          10,
		IdleConnTimeout:       30 * time.Second,
		Proxy:                 nil,
	}
}

// publicAddr reports whether a is a global unicast address outside the
// private, shared (100.64/10) and documentation ranges.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	if a.Is6() && !netip.MustParsePrefix("2000::/3").Contains(a) {
		return false // outside the IPv6 global unicast space (fec0::/10, 100::/64, ::a.b.c.d…)
	}
	for _, p := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
		"64:ff9b::/96", "64:ff9b:1::/48", "2001::/32", "2001:db8::/32", "2002::/16"} {
		if netip.MustParsePrefix(p).Contains(a) {
			return false
		}
	}
	return true
}

// resolve returns the client named id: a clientError when there is none.
func (cr *clientResolver) resolve(ctx context.Context, id string) (*client, error) {
	switch {
	case id == "":
		return nil, &clientError{"client_id is required."}
	case len(id) > maxClientIDLen || !utf8.ValidString(id):
		return nil, &clientError{"client_id is malformed."}
	case strings.HasPrefix(id, "https://"):
		if !cr.cimd {
			return nil, &clientError{"This server does not accept client metadata documents: register the client first."}
		}
		return cr.document(ctx, id)
	}
	var c client
	err := cr.as.get(ctx, keyClient+id, &c)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &clientError{"The client is not registered here (or its registration has expired)."}
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// touch keeps a registered client as long as it is used.
func (cr *clientResolver) touch(ctx context.Context, id string) {
	if strings.HasPrefix(id, "https://") {
		return
	}
	var c client
	if cr.as.get(ctx, keyClient+id, &c) == nil {
		cr.as.put(ctx, keyClient+id, c, clientTTL)
	}
}

// document fetches and checks the client metadata document at id (Client
// ID Metadata Documents, as MCP clients use them).
func (cr *clientResolver) document(ctx context.Context, id string) (*client, error) {
	cr.mu.Lock()
	d, ok := cr.docs[id]
	cr.mu.Unlock()
	if ok && cr.as.now().Before(d.expires) {
		if d.err != nil {
			return nil, d.err
		}
		return d.c, nil
	}
	c, err := cr.fetch(ctx, id)
	entry := cachedDoc{c: c, expires: cr.as.now().Add(clientDocTTL)}
	if err != nil {
		var ce *clientError
		if !errors.As(err, &ce) {
			return nil, err
		}
		entry = cachedDoc{err: ce, expires: cr.as.now().Add(failedDocTTL)}
	}
	cr.mu.Lock()
	if _, ok := cr.docs[id]; !ok && len(cr.docs) >= clientDocEntries {
		for k := range cr.docs {
			delete(cr.docs, k)
			break
		}
	}
	cr.docs[id] = entry
	cr.mu.Unlock()
	return c, err
}

// fetch reads and checks a client metadata document.
func (cr *clientResolver) fetch(ctx context.Context, id string) (*client, error) {
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" || u.RawQuery != "" {
		return nil, &clientError{"A client_id URL must be https, with a host and a path, and no user, query or fragment."}
	}
	if u.Path == "" || u.Path == "/" || strings.Contains(u.Path, "/./") || strings.Contains(u.Path, "/../") {
		return nil, &clientError{"A client_id URL must have a path (the document's location)."}
	}
	if p := u.Port(); p != "" && p != "443" && !cr.allowPrivate {
		return nil, &clientError{"A client_id URL must use the https port (443)."}
	}
	ctx, cancel := context.WithTimeout(ctx, clientDocTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := cr.http.Do(req)
	if err != nil {
		cr.as.log.LogAttrs(ctx, slog.LevelInfo, "auth_client_document_failed", slog.String("client_id", id), slog.String("error", err.Error()))
		return nil, &clientError{"The client's metadata document could not be fetched."}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		cr.as.log.LogAttrs(ctx, slog.LevelInfo, "auth_client_document_failed", slog.String("client_id", id), slog.Int("status", resp.StatusCode))
		return nil, &clientError{"The client's metadata document could not be fetched."}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil, &clientError{"The client's metadata document is not JSON."}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxClientDocBytes+1))
	if err != nil {
		return nil, &clientError{"The client's metadata document could not be read."}
	}
	if len(body) > maxClientDocBytes {
		return nil, &clientError{fmt.Sprintf("The client's metadata document is larger than %d bytes.", maxClientDocBytes)}
	}
	var doc clientMetadata
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, &clientError{"The client's metadata document is not valid JSON."}
	}
	if doc.ClientID != id {
		return nil, &clientError{"The client's metadata document names another client_id."}
	}
	if doc.ClientSecret != "" || doc.ClientSecretExpiresAt != nil {
		return nil, &clientError{"A client metadata document must not hold a secret."}
	}
	switch doc.TokenEndpointAuthMethod {
	case "", "none":
	default:
		return nil, &clientError{"This server accepts only public clients (token_endpoint_auth_method none) by metadata document."}
	}
	if err := checkRedirectURIs(doc.RedirectURIs); err != nil {
		return nil, &clientError{"The client's metadata document: " + err.Error()}
	}
	return &client{ID: id, Name: cleanName(doc.ClientName), URI: cleanURI(doc.ClientURI), RedirectURIs: doc.RedirectURIs, AuthMethod: "none"}, nil
}

// clientMetadata is RFC 7591 client metadata, as registered or published.
type clientMetadata struct {
	ClientID                string   `json:"client_id,omitempty"`
	ClientSecret            string   `json:"client_secret,omitempty"`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
}

// register is RFC 7591 dynamic client registration.
func (s *authServer) register(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "use POST"})
		return
	}
	fail := func(code, desc string) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
	}
	if !s.registrations.allow(r) {
		w.Header().Set("Retry-After", "60")
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "temporarily_unavailable", "error_description": "too many registrations from this address; retry later"})
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		fail("invalid_client_metadata", "the body must be application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegistrationBytes))
	if err != nil {
		fail("invalid_client_metadata", fmt.Sprintf("the body must be at most %d bytes", maxRegistrationBytes))
		return
	}
	var md clientMetadata
	if err := json.Unmarshal(body, &md); err != nil {
		fail("invalid_client_metadata", "the body is not a JSON object of client metadata")
		return
	}
	if err := checkRedirectURIs(md.RedirectURIs); err != nil {
		fail("invalid_redirect_uri", err.Error())
		return
	}
	for _, g := range md.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			fail("invalid_client_metadata", "grant_types may hold authorization_code and refresh_token only")
			return
		}
	}
	for _, rt := range md.ResponseTypes {
		if rt != "code" {
			fail("invalid_client_metadata", "response_types may hold code only")
			return
		}
	}
	if md.ClientID != "" {
		fail("invalid_client_metadata", "client_id is assigned by the server")
		return
	}
	c := client{ID: "a2m_client_" + randomToken("")[:32], Name: cleanName(md.ClientName), URI: cleanURI(md.ClientURI),
		RedirectURIs: md.RedirectURIs, IssuedAt: s.now().Unix()}
	var secret string
	switch md.TokenEndpointAuthMethod {
	case "", "none":
		c.AuthMethod = "none"
	case "client_secret_basic", "client_secret_post":
		c.AuthMethod = md.TokenEndpointAuthMethod
		secret = randomToken("a2m_cs_")
		c.SecretHash = hashHex(secret)
	default:
		fail("invalid_client_metadata", "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post")
		return
	}
	if err := s.put(r.Context(), keyClient+c.ID, c, unusedClientTTL); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "auth_state_unavailable", slog.String("error", err.Error()))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable", "error_description": "the authorization state is unavailable; retry later"})
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "auth_client_registered", slog.String("client_id", c.ID), slog.String("client_name", c.Name))
	s.event("client_registered")
	resp := map[string]any{
		"client_id":                  c.ID,
		"client_id_issued_at":        c.IssuedAt,
		"redirect_uris":              c.RedirectURIs,
		"token_endpoint_auth_method": c.AuthMethod,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
	}
	if c.Name != "" {
		resp["client_name"] = c.Name
	}
	if c.URI != "" {
		resp["client_uri"] = c.URI
	}
	if secret != "" {
		resp["client_secret"] = secret
		resp["client_secret_expires_at"] = 0
	}
	noStore(w)
	writeJSON(w, http.StatusCreated, resp)
}

// checkRedirectURIs checks a client's redirect URIs: absolute, without a
// fragment, and https, http on a loopback address (RFC 8252 §7.3), or a
// private-use scheme of a native app (RFC 8252 §7.1). Schemes that run code
// or read local data are refused.
func checkRedirectURIs(uris []string) error {
	if len(uris) == 0 {
		return errors.New("redirect_uris is required")
	}
	if len(uris) > maxRedirectURIs {
		return fmt.Errorf("at most %d redirect_uris", maxRedirectURIs)
	}
	for _, s := range uris {
		if len(s) > 2000 {
			return errors.New("a redirect URI is longer than 2000 characters")
		}
		u, err := url.Parse(s)
		if err != nil || !u.IsAbs() {
			return fmt.Errorf("redirect URI %q is not an absolute URI", truncate(s, 100))
		}
		if u.Fragment != "" || strings.Contains(s, "#") {
			return fmt.Errorf("redirect URI %q has a fragment", truncate(s, 100))
		}
		switch scheme := strings.ToLower(u.Scheme); scheme {
		case "https":
			if u.Host == "" {
				return fmt.Errorf("redirect URI %q has no host", truncate(s, 100))
			}
		case "http":
			if !isLoopbackHost(u.Hostname()) {
				return fmt.Errorf("redirect URI %q: http is allowed only on a loopback address (127.0.0.1, [::1], localhost)", truncate(s, 100))
			}
		case "javascript", "data", "vbscript", "file", "blob", "about", "ftp", "ws", "wss":
			return fmt.Errorf("redirect URI %q: scheme %s is not allowed", truncate(s, 100), scheme)
		}
		if u.User != nil {
			return fmt.Errorf("redirect URI %q has user information", truncate(s, 100))
		}
	}
	return nil
}

// matchRedirect returns the redirect URI to use: exactly one registered,
// except that a loopback http URI matches on any port (RFC 8252 §7.3: native
// apps get a port from the system at each login). Empty is allowed when
// the client registered exactly one.
func (c *client) matchRedirect(given string) (string, bool) {
	if given == "" {
		if len(c.RedirectURIs) == 1 {
			return c.RedirectURIs[0], true
		}
		return "", false
	}
	if strings.Contains(given, "#") {
		return "", false
	}
	if slices.Contains(c.RedirectURIs, given) {
		return given, true
	}
	g, err := url.Parse(given)
	if err != nil || g.Scheme != "http" || !isLoopbackHost(g.Hostname()) {
		return "", false
	}
	for _, reg := range c.RedirectURIs {
		r, err := url.Parse(reg)
		if err != nil || r.Scheme != "http" || !isLoopbackHost(r.Hostname()) {
			continue
		}
		if r.Hostname() == g.Hostname() && r.EscapedPath() == g.EscapedPath() && r.RawQuery == g.RawQuery && g.Fragment == "" && g.User == nil {
			return given, true
		}
	}
	return "", false
}

// cleanURI keeps a client's homepage only if it is a short https URL.
func cleanURI(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || len(s) > 200 {
		return ""
	}
	return s
}

// cleanName makes a client-chosen name safe to show: printable, at most 80
// characters.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > 80 {
		s = string([]rune(s)[:80]) + "…"
	}
	return strings.TrimSpace(s)
}
