package configs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/api2mcp/api2mcp/authn"
	"github.com/api2mcp/api2mcp/mapping"
	"github.com/api2mcp/api2mcp/mapping/openapi"
)

// maxRetries bounds retries: each one costs the upstream a request.
const maxRetries = 10

var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// compile checks every section, applies defaults and compiles the tools.
// It reports every problem, each with its field path, except in the fields
// listed in unresolved (their ${…} already failed).
func compile(path string, f *File, unresolved map[string]bool, o *Options) (*Config, []error) {
	var errs []error
	fail := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	cfg := &Config{Path: path, Server: f.Server, Upstreams: map[string]*Upstream{}, Policies: map[string]ToolPolicy{}}
	applyDefaults(&cfg.Server)
	s := cfg.Server
	if _, port, err := net.SplitHostPort(s.Listen); err != nil {
		fail("server.listen", "%q is not host:port: %v", s.Listen, err)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		fail("server.listen", "%q has no valid port (want 0 to 65535)", s.Listen)
	}
	if s.PublicURL != "" {
		if u, err := url.Parse(s.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fail("server.public_url", "%q is not an absolute http(s) URL", s.PublicURL)
		}
	}
	if s.SessionTimeout < 0 {
		fail("server.session_timeout", "must not be negative")
	}
	if s.ShutdownTimeout < 0 {
		fail("server.shutdown_timeout", "must not be negative")
	}
	if s.MetricsListen != "" && s.MetricsListen != "off" {
		if _, _, err := net.SplitHostPort(s.MetricsListen); err != nil {
			fail("server.metrics_listen", "%q is not host:port, empty or off", s.MetricsListen)
		}
	}
	if s.MaxSessions < 0 {
		fail("server.max_sessions", "must not be negative")
	}
	for i, h := range s.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ @") {
			fail(fmt.Sprintf("server.allowed_hosts[%d]", i), "%q is not a host[:port]", h)
		}
	}
	if s.PageSize < 0 {
		fail("server.page_size", "must not be negative")
	}
	if s.MaxRequestBytes < 0 {
		fail("server.max_request_bytes", "must not be negative")
	}
	for i, o := range s.AllowedOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			fail(fmt.Sprintf("server.allowed_origins[%d]", i), "%q is not an origin (scheme://host[:port])", o)
		}
	}

	for _, name := range slices.Sorted(maps.Keys(f.Upstreams)) {
		u, uerrs := compileUpstream(name, f.Upstreams[name], unresolved)
		errs = append(errs, uerrs...)
		if u != nil {
			cfg.Upstreams[name] = u
		}
	}

	cfg.Cache = f.Cache
	if cfg.Cache.MaxEntries == 0 {
		cfg.Cache.MaxEntries = DefaultCacheMaxEntries
	}
	if cfg.Cache.MaxBytes == 0 {
		cfg.Cache.MaxBytes = DefaultCacheMaxBytes
	}
	if cfg.Cache.MaxEntries < 0 {
		fail("cache.max_entries", "must not be negative")
	}
	if cfg.Cache.MaxBytes < 0 {
		fail("cache.max_bytes", "must not be negative")
	}
	if f.Redis.URL != "" && !unresolved["redis.url"] {
		// The URL may hold a password: errors describe it without quoting.
		if u, err := url.Parse(f.Redis.URL); err != nil {
			fail("redis.url", "not a valid URL")
		} else if u.Scheme != "redis" && u.Scheme != "rediss" {
			fail("redis.url", "scheme must be redis or rediss")
		} else if u.Host == "" {
			fail("redis.url", "has no host")
		} else {
			cfg.RedisURL = f.Redis.URL
		}
	}
	cfg.RateLimits.Shared = f.RateLimits.Shared
	if f.RateLimits.Shared && f.Redis.URL == "" {
		fail("rate_limits.shared", "needs the redis section (redis.url)")
	}
	cfg.RateLimits.MaxKeys = f.RateLimits.MaxKeys
	if cfg.RateLimits.MaxKeys == 0 {
		cfg.RateLimits.MaxKeys = DefaultRateMaxKeys
	}
	if cfg.RateLimits.MaxKeys < 0 {
		fail("rate_limits.max_keys", "must not be negative")
	}
	for _, l := range []struct {
		field string
		spec  *mapping.RateLimitSpec
		dst   **Limit
	}{{"rate_limits.caller", f.RateLimits.Caller, &cfg.RateLimits.Caller}, {"rate_limits.client_ip", f.RateLimits.ClientIP, &cfg.RateLimits.ClientIP}} {
		if l.spec == nil {
			continue
		}
		lim, lerrs := compileLimit(l.spec, false)
		for _, e := range lerrs {
			fail(l.field+"."+e.field, "%s", e.msg)
		}
		*l.dst = lim
	}

	seen := map[string]int{}
	for i, spec := range f.Tools {
		prefix := fmt.Sprintf("tools[%d]", i)
		if spec.Name != "" {
			prefix += fmt.Sprintf(" %q", spec.Name)
		}
		if j, dup := seen[spec.Name]; dup && spec.Name != "" {
			errs = append(errs, fmt.Errorf("%s: name: already used by tools[%d]", prefix, j))
		}
		seen[spec.Name] = i
		var toolErrs []error
		up, ok := f.Upstreams[spec.Upstream]
		if spec.Upstream != "" && !ok {
			toolErrs = append(toolErrs, &mapping.FieldError{Field: "upstream", Err: fmt.Errorf("%q is not in upstreams (have: %s)", spec.Upstream, strings.Join(slices.Sorted(maps.Keys(f.Upstreams)), ", "))})
		}
		t, err := mapping.Compile(spec)
		if err != nil {
			toolErrs = append(toolErrs, unjoin(err)...)
		}
		if t != nil && ok {
			for _, h := range t.HeaderNames() {
				for k := range up.Headers {
					if http.CanonicalHeaderKey(k) == h {
						toolErrs = append(toolErrs, &mapping.FieldError{Field: "headers." + h, Err: fmt.Errorf("is set by upstream %q; a tool cannot override upstream headers", spec.Upstream)})
					}
				}
			}
		}
		pol, perrs := compilePolicy(spec, t)
		toolErrs = append(toolErrs, perrs...)
		if ok && up.Auth.Type == "user_token" && pol.Cache != nil && pol.Cache.Shared {
			toolErrs = append(toolErrs, &mapping.FieldError{Field: "cache.scope", Err: fmt.Errorf("shared, but upstream %q answers each user with their own token: one user's data would reach another", spec.Upstream)})
		}
		if pol.Cache != nil || pol.RateLimit != nil {
			cfg.Policies[spec.Name] = pol
		}
		for _, e := range toolErrs {
			errs = append(errs, fmt.Errorf("%s: %w", prefix, e))
		}
		if len(toolErrs) == 0 {
			cfg.Tools = append(cfg.Tools, t)
		}
	}
	errs = append(errs, compileResources(f, cfg)...)
	errs = append(errs, compilePrompts(f, cfg)...)
	errs = append(errs, importOpenAPI(cfg, path, f, seen, o)...)
	if len(cfg.Tools) == 0 && len(cfg.Catalogs) == 0 && len(f.Resources) == 0 && len(f.Prompts) == 0 && len(errs) == 0 {
		cfg.Warnings = append(cfg.Warnings, "no tools are declared")
	}
	errs = append(errs, cfg.checkAuth(f.Auth)...)
	return cfg, errs
}

// checkAuth checks the auth section with package authn, and refuses mode
// none on a listen address other people can reach unless it is forced.
func (cfg *Config) checkAuth(spec authn.Spec) []error {
	var errs []error
	cfg.Auth = spec
	if cfg.Auth.Mode == "" {
		cfg.Auth.Mode = authn.ModeNone
	}
	if _, err := authn.New(cfg.Auth, cfg.Server.PublicURL, nil); err != nil {
		for _, e := range unjoin(err) {
			errs = append(errs, fmt.Errorf("auth.%w", e))
		}
	}
	_, _, listenErr := net.SplitHostPort(cfg.Server.Listen)
	if cfg.Auth.Mode != authn.ModeAuthorizationServer {
		for _, name := range slices.Sorted(maps.Keys(cfg.Upstreams)) {
			if cfg.Upstreams[name].UserToken {
				errs = append(errs, fmt.Errorf("upstreams.%s.auth.type: user_token needs auth.mode authorization_server (the users' provider tokens come from its login)", name))
			}
		}
	} else if st := &cfg.Auth.AuthorizationServer.State; st.Redis.URL == "" {
		if st.File == "" {
			st.File = "api2mcp-auth.db"
		}
		if !filepath.IsAbs(st.File) && cfg.Path != "" {
			st.File = filepath.Join(filepath.Dir(cfg.Path), st.File)
		}
	}
	if cfg.Auth.Mode == authn.ModeNone {
		switch {
		case listenErr != nil || IsLoopback(cfg.Server.Listen):
			// A bad listen address is reported on its own.
		case cfg.Auth.AllowNoneOnPublicListen:
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("auth.mode is none on %s, which is not a loopback address: anyone who can reach it can call every tool", cfg.Server.Listen))
		default:
			errs = append(errs, fmt.Errorf("auth.mode: none is allowed only on a loopback listen address, and server.listen is %q (set auth.mode to api_key or oauth, or auth.allow_none_on_public_listen: true to force it)", cfg.Server.Listen))
		}
		for _, t := range cfg.Tools {
			if len(t.Scopes()) > 0 {
				cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("tool %s: scopes are not enforced in auth mode none", t.Name()))
			}
		}
	}
	return errs
}

// importOpenAPI imports every openapi entry and compiles its tools like
// declared ones. Names must be unique across both (seen holds the declared
// tools' names).
func importOpenAPI(cfg *Config, path string, f *File, seen map[string]int, o *Options) []error {
	var errs []error
	imported := map[string]string{}         // name → "openapi[i]"
	schemes := map[string]map[string]bool{} // upstream → security schemes its tools use
	defer func() {
		for _, name := range slices.Sorted(maps.Keys(f.Upstreams)) {
			for _, k := range slices.Sorted(maps.Keys(f.Upstreams[name].Credentials)) {
				if !schemes[name][k] {
					cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("upstreams.%s.credentials.%s: names no security scheme an imported operation of this upstream requires", name, k))
				}
			}
		}
	}()
	for i, entry := range f.OpenAPI {
		prefix := fmt.Sprintf("openapi[%d]", i)
		fail := func(field, format string, a ...any) {
			errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, field, fmt.Sprintf(format, a...)))
		}
		up, ok := f.Upstreams[entry.Upstream]
		switch {
		case entry.Upstream == "":
			fail("upstream", "required")
		case !ok:
			fail("upstream", "%q is not in upstreams (have: %s)", entry.Upstream, strings.Join(slices.Sorted(maps.Keys(f.Upstreams)), ", "))
		}
		var catalog *Catalog
		switch entry.Discovery {
		case "", DiscoveryStatic:
		case DiscoveryDynamic:
			catalog = &Catalog{Name: entry.Upstream}
			for _, suffix := range []string{"_search", "_describe", "_call"} {
				name := entry.Upstream + suffix
				if j, dup := seen[name]; dup {
					fail("discovery", "tool %s is already declared by tools[%d]", name, j)
				} else if other, dup := imported[name]; dup {
					fail("discovery", "tool %s is already imported by %s", name, other)
				}
				imported[name] = prefix
			}
		default:
			fail("discovery", "%q is not static or dynamic", entry.Discovery)
		}
		if entry.Spec == "" {
			fail("spec", "required: a file path or an http(s) URL")
			continue
		}
		location := entry.Spec
		if !strings.HasPrefix(location, "http://") && !strings.HasPrefix(location, "https://") && !filepath.IsAbs(location) {
			location = filepath.Join(filepath.Dir(path), location)
		}
		reserved := make([]string, 0, len(up.Headers))
		for k := range up.Headers {
			reserved = append(reserved, k)
		}
		res, err := openapi.Load(context.Background(), location,
			&openapi.Source{ReadFile: o.ReadFile, Client: o.HTTPClient},
			&openapi.Options{
				Upstream:        entry.Upstream,
				Include:         entry.Include,
				Exclude:         entry.Exclude,
				Overrides:       entry.Overrides,
				OutputSchema:    entry.OutputSchema,
				ReservedHeaders: reserved,
			})
		if err != nil {
			for _, e := range unjoin(err) {
				fail("spec", "%v", e)
			}
			continue
		}
		for _, w := range res.Warnings {
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%s: %s", prefix, w))
		}
		for _, s := range res.Skipped {
			if s.Reason != "hidden" {
				cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%s: %s skipped: %s", prefix, s.Operation, s.Reason))
			}
		}
		if !ok {
			continue
		}
		for _, tool := range res.Tools {
			tprefix := fmt.Sprintf("%s %q (%s)", prefix, tool.Spec.Name, tool.Operation)
			var toolErrs []error
			if j, dup := seen[tool.Spec.Name]; dup {
				toolErrs = append(toolErrs, fmt.Errorf("name: already used by tools[%d] (rename it in overrides)", j))
			} else if other, dup := imported[tool.Spec.Name]; dup {
				toolErrs = append(toolErrs, fmt.Errorf("name: already used by %s (rename it in overrides)", other))
			}
			imported[tool.Spec.Name] = prefix
			t, err := mapping.Compile(tool.Spec)
			if err != nil {
				toolErrs = append(toolErrs, unjoin(err)...)
			}
			pol, perrs := compilePolicy(tool.Spec, t)
			toolErrs = append(toolErrs, perrs...)
			if pol.Cache != nil || pol.RateLimit != nil {
				cfg.Policies[tool.Spec.Name] = pol
			}
			for _, e := range toolErrs {
				errs = append(errs, fmt.Errorf("%s: %w", tprefix, e))
			}
			if len(toolErrs) == 0 {
				if catalog != nil {
					catalog.Entries = append(catalog.Entries, CatalogEntry{Tool: t, Operation: tool.Operation})
				} else {
					cfg.Tools = append(cfg.Tools, t)
				}
				for _, req := range tool.Security {
					for _, sc := range req {
						if schemes[entry.Upstream] == nil {
							schemes[entry.Upstream] = map[string]bool{}
						}
						schemes[entry.Upstream][sc.Name] = true
					}
				}
				cred, warning := credentialFor(tool, entry.Upstream, up)
				if warning != "" {
					cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%s: %s", tprefix, warning))
				}
				if cred != nil {
					if cfg.Credentials == nil {
						cfg.Credentials = map[string]*Credential{}
					}
					cfg.Credentials[tool.Spec.Name] = cred
				}
			}
		}
		if catalog != nil && len(catalog.Entries) > 0 {
			cfg.Catalogs = append(cfg.Catalogs, catalog)
		}
	}
	return errs
}

// IsLoopback reports whether the host of a listen address (host:port) is a
// loopback address or localhost; an empty host listens everywhere.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ToolScopes lists every scope some tool requires, in order of appearance.
func (cfg *Config) ToolScopes() []string {
	var out []string
	for _, t := range cfg.Tools {
		for _, s := range t.Scopes() {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// credentialFor picks the first of an operation's security requirements
// (in the spec's order) that the upstream has credentials for, and places
// them as the schemes say. An operation without requirements, or whose
// first satisfiable requirement is anonymous, sends none.
func credentialFor(tool openapi.Tool, upstream string, up UpstreamSpec) (*Credential, string) {
	if len(tool.Security) == 0 {
		return nil, ""
	}
	var wanted []string
	for _, req := range tool.Security {
		ok := true
		for _, sc := range req {
			if _, has := up.Credentials[sc.Name]; !has {
				ok = false
				wanted = append(wanted, sc.Name)
			}
		}
		if !ok {
			continue
		}
		if len(req) == 0 {
			return nil, ""
		}
		c := &Credential{Header: http.Header{}, Query: url.Values{}}
		for _, sc := range req {
			v := up.Credentials[sc.Name]
			switch {
			case sc.Type == "apiKey" && sc.In == "header":
				c.Header.Set(sc.Param, v)
			case sc.Type == "apiKey" && sc.In == "query":
				c.Query.Set(sc.Param, v)
			case sc.Type == "apiKey" && sc.In == "cookie":
				c.Cookies = append(c.Cookies, sc.Param+"="+v)
			case sc.Type == "http" && sc.HTTPScheme == "basic":
				c.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(v)))
			default: // http bearer, oauth2, openIdConnect
				c.Header.Set("Authorization", "Bearer "+v)
			}
		}
		return c, ""
	}
	return nil, fmt.Sprintf("sends no credentials: its operation needs security scheme %s, and upstreams.%s.credentials has none of them", strings.Join(dedupe(wanted), " or "), upstream)
}

func dedupe(l []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range l {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// compilePolicy checks a tool's cache and rate_limit sections. t is nil
// when the mapping did not compile.
func compilePolicy(spec mapping.Spec, t *mapping.Tool) (ToolPolicy, []error) {
	var pol ToolPolicy
	var errs []error
	if c := spec.Cache; c != nil {
		tc := &ToolCache{TTL: c.TTL, AllowBypass: c.Bypass}
		if c.TTL <= 0 {
			errs = append(errs, &mapping.FieldError{Field: "cache.ttl", Err: errors.New("required: a positive duration such as 30s")})
		}
		switch c.Scope {
		case "", ScopeUser:
		case ScopeShared:
			tc.Shared = true
		default:
			errs = append(errs, &mapping.FieldError{Field: "cache.scope", Err: fmt.Errorf("%q is not user or shared", c.Scope)})
		}
		if t != nil {
			h := t.Descriptor().Hints
			if m := t.Method(); m != http.MethodGet && m != http.MethodHead && !h.ReadOnly {
				errs = append(errs, &mapping.FieldError{Field: "cache", Err: fmt.Errorf("a %s tool changes things; only GET, HEAD or tools with annotations.read_only are cached", m)})
			}
		}
		pol.Cache = tc
	}
	if spec.RateLimit != nil {
		lim, lerrs := compileLimit(spec.RateLimit, true)
		for _, e := range lerrs {
			errs = append(errs, &mapping.FieldError{Field: "rate_limit." + e.field, Err: errors.New(e.msg)})
		}
		pol.RateLimit = lim
	}
	return pol, errs
}

// limitError is one problem in a rate-limit section: the sub-field and what
// is wrong.
type limitError struct{ field, msg string }

func (e *limitError) Error() string { return e.field + ": " + e.msg }

// compileLimit checks a token bucket; scope is allowed only on tools.
func compileLimit(s *mapping.RateLimitSpec, tool bool) (*Limit, []*limitError) {
	var errs []*limitError
	l := &Limit{Requests: s.Requests, Per: s.Per, Burst: s.Burst}
	if l.Per == 0 {
		l.Per = DefaultRatePer
	}
	if l.Burst == 0 {
		l.Burst = l.Requests
	}
	if s.Requests <= 0 {
		errs = append(errs, &limitError{"requests", "required: a positive number of calls per period"})
	}
	if s.Per < 0 {
		errs = append(errs, &limitError{"per", "must not be negative"})
	}
	if s.Burst < 0 {
		errs = append(errs, &limitError{"burst", "must not be negative"})
	}
	switch {
	case s.Scope == "" || s.Scope == ScopeCaller:
	case s.Scope == ScopeTool && tool:
		l.PerTool = true
	case !tool:
		errs = append(errs, &limitError{"scope", "only a tool's rate_limit has a scope"})
	default:
		errs = append(errs, &limitError{"scope", fmt.Sprintf("%q is not caller or tool", s.Scope)})
	}
	return l, errs
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func applyDefaults(s *ServerSpec) {
	if s.Name == "" {
		s.Name = DefaultServerName
	}
	if s.Listen == "" {
		s.Listen = DefaultListen
	}
	if s.MaxRequestBytes == 0 {
		s.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if s.ShutdownTimeout == 0 {
		s.ShutdownTimeout = DefaultShutdownTimeout
	}
	if s.SessionTimeout == 0 {
		s.SessionTimeout = DefaultSessionTimeout
	}
	if s.MaxSessions == 0 {
		s.MaxSessions = DefaultMaxSessions
	}
}

// orDefault is v, or def when v is zero; a negative v is reported at field
// (the config is then refused).
func orDefault[T int | int64 | time.Duration](v, def T, field string, fail func(field, format string, a ...any)) T {
	if v < 0 {
		fail(field, "must not be negative")
	}
	if v == 0 {
		return def
	}
	return v
}

func compileUpstream(name string, spec UpstreamSpec, unresolved map[string]bool) (*Upstream, []error) {
	var errs []error
	field := "upstreams." + name
	fail := func(sub, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", field, sub, fmt.Sprintf(format, a...)))
	}
	u := &Upstream{Name: name, Header: http.Header{}}
	u.Timeout = orDefault(spec.Timeout, DefaultUpstreamTimeout, "timeout", fail)
	u.MaxResponseBytes = orDefault(spec.MaxResponseBytes, DefaultMaxResponseBytes, "max_response_bytes", fail)
	u.ConnectTimeout = orDefault(spec.ConnectTimeout, DefaultConnectTimeout, "connect_timeout", fail)
	u.Retries = DefaultRetries
	if spec.Retries != nil {
		u.Retries = *spec.Retries
	}
	if u.Retries < 0 || u.Retries > maxRetries {
		fail("retries", "must be 0 to %d", maxRetries)
	}
	u.RetryBackoff = orDefault(spec.RetryBackoff, DefaultRetryBackoff, "retry_backoff", fail)
	cb := spec.CircuitBreaker
	failures := orDefault(cb.Failures, DefaultBreakerFailures, "circuit_breaker.failures", fail)
	openFor := orDefault(cb.OpenFor, DefaultBreakerOpenFor, "circuit_breaker.open_for", fail)
	if !cb.Disabled {
		u.BreakerFailures, u.BreakerOpenFor = failures, openFor
	}
	u.MaxConcurrent = orDefault(spec.MaxConcurrent, DefaultMaxConcurrent, "max_concurrent", fail)
	// The URL may carry a secret (an API key in the query): errors describe it
	// without quoting it. A field whose ${…} failed is already reported and
	// is not checked again; the upstream is then not usable.
	skipped := false
	if unresolved[field+".url"] {
		skipped = true
	} else if spec.URL == "" {
		fail("url", "required")
	} else if parsed, err := url.Parse(spec.URL); err != nil {
		fail("url", "not a valid URL")
	} else if parsed.Scheme != "http" && parsed.Scheme != "https" {
		fail("url", "scheme must be http or https")
	} else if parsed.Host == "" {
		fail("url", "has no host")
	} else if parsed.Fragment != "" {
		fail("url", "must not have a #fragment")
	} else {
		parsed.Path = strings.TrimSuffix(parsed.Path, "/")
		parsed.RawPath = strings.TrimSuffix(parsed.RawPath, "/")
		u.URL = parsed
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Headers)) {
		v := spec.Headers[k]
		if unresolved[field+".headers."+k] {
			skipped = true
			continue
		}
		if !headerNameRE.MatchString(k) {
			fail("headers."+k, "not a valid header name")
			continue
		}
		if strings.ContainsFunc(v, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }) {
			fail("headers."+k, "value contains a control character")
			continue
		}
		u.Header.Set(k, v)
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Credentials)) {
		if unresolved[field+".credentials."+k] {
			skipped = true
			continue
		}
		if strings.ContainsFunc(spec.Credentials[k], func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			fail("credentials."+k, "value contains a control character")
		}
	}
	switch spec.Auth.Type {
	case "":
	case "user_token":
		u.UserToken = true
		if _, ok := u.Header["Authorization"]; ok {
			fail("auth.type", "user_token sends the caller's token as Authorization; remove the Authorization header")
		}
	default:
		fail("auth.type", "%q is not user_token", spec.Auth.Type)
	}
	for i, h := range spec.ForwardHeaders {
		if !headerNameRE.MatchString(h) {
			fail(fmt.Sprintf("forward_headers[%d]", i), "%q is not a valid header name", h)
			continue
		}
		c := http.CanonicalHeaderKey(h)
		if c == "Authorization" || c == "Cookie" || c == "Host" || c == "Proxy-Authorization" {
			fail(fmt.Sprintf("forward_headers[%d]", i), "%s is never forwarded: the agent's credentials must not reach the upstream", c)
			continue
		}
		u.ForwardHeaders = append(u.ForwardHeaders, c)
	}
	if len(errs) > 0 || skipped {
		return nil, errs
	}
	return u, nil
}
