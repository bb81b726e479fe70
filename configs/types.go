package configs

import (
	"net/http"
	"net/url"
	"time"

	"github.com/api2mcp/api2mcp/authn"
	"github.com/api2mcp/api2mcp/mapping"
	"github.com/api2mcp/api2mcp/mapping/openapi"
)

// Defaults, applied in one place (see applyDefaults).
const (
	DefaultServerName       = "api2mcp"
	DefaultListen           = "127.0.0.1:8080"
	DefaultMaxRequestBytes  = 4 << 20 // 4 MiB
	DefaultShutdownTimeout  = 15 * time.Second
	DefaultSessionTimeout   = 30 * time.Minute
	DefaultMaxSessions      = 10000
	DefaultUpstreamTimeout  = 30 * time.Second
	DefaultMaxResponseBytes = 10 << 20 // 10 MiB
	DefaultConnectTimeout   = 5 * time.Second
	DefaultRetries          = 2
	DefaultRetryBackoff     = 100 * time.Millisecond
	DefaultBreakerFailures  = 5
	DefaultBreakerOpenFor   = 30 * time.Second
	// DefaultMaxConcurrent matches the idle pool kept per upstream, so that
	// the number of upstream connections stays bounded by the pool.
	DefaultMaxConcurrent   = 64
	DefaultCacheMaxEntries = 10_000
	DefaultCacheMaxBytes   = 64 << 20 // 64 MiB
	DefaultRatePer         = time.Second
	DefaultRateMaxKeys     = 10_000
)

// Tool cache scopes and rate-limit scopes.
const (
	ScopeUser   = "user"
	ScopeShared = "shared"
	ScopeCaller = "caller"
	ScopeTool   = "tool"
)

// File is mcp.yaml as written, after environment overrides and secret
// resolution, before compilation.
type File struct {
	// Server configures the MCP server and its HTTP listener.
	Server ServerSpec `koanf:"server"`
	// Upstreams are the HTTP APIs tools call, by name.
	Upstreams map[string]UpstreamSpec `koanf:"upstreams"`
	// Tools are the MCP tools, each a mapping onto one upstream call.
	Tools []mapping.Spec `koanf:"tools"`
	// Resources expose upstream GETs as MCP resources (read-only data the
	// client application chooses to show the model).
	Resources []ResourceSpec `koanf:"resources"`
	// Prompts are MCP prompts: templated messages that show a user how to
	// use the API's tools.
	Prompts []PromptSpec `koanf:"prompts"`
	// Auth is the front door; absent means mode none (loopback only).
	Auth authn.Spec `koanf:"auth"`
	// Cache bounds the response cache shared by every tool with a cache
	// section.
	Cache CacheSpec `koanf:"cache"`
	// RateLimits are the limits that apply across tools.
	RateLimits RateLimitsSpec `koanf:"rate_limits"`
	// Redis is the state shared by replicas; empty means none.
	Redis RedisSpec `koanf:"redis"`
	// OpenAPI imports the operations of OpenAPI documents as tools.
	OpenAPI []OpenAPISpec `koanf:"openapi"`
}

// ResourceSpec is one entry of the resources section: an upstream GET
// exposed as a resource (uri) or a resource template (uri_template).
type ResourceSpec struct {
	// URI is the resource's fixed URI; set it or URITemplate.
	URI string `koanf:"uri"`
	// URITemplate is an RFC 6570 level-1 template such as
	// files://{owner}/{name}; its variables fill the path's placeholders.
	URITemplate string `koanf:"uri_template"`
	// Name identifies the resource: 1 to 64 characters from [A-Za-z0-9_.-].
	Name string `koanf:"name"`
	// Title is an optional human-readable name.
	Title string `koanf:"title"`
	// Description tells the client what the resource holds.
	Description string `koanf:"description"`
	// MIMEType is advertised in resources/list; empty means the upstream's
	// Content-Type at read time.
	MIMEType string `koanf:"mime_type"`
	// Upstream names the entry of upstreams to read from.
	Upstream string `koanf:"upstream"`
	// Path is appended to the upstream URL; {name} placeholders are filled
	// from the URI template's variables.
	Path string `koanf:"path"`
	// MaxBytes caps a read's content in bytes; zero means 1 MiB.
	MaxBytes int `koanf:"max_bytes"`
}

// PromptSpec is one entry of the prompts section.
type PromptSpec struct {
	// Name identifies the prompt: 1 to 64 characters from [A-Za-z0-9_.-].
	Name string `koanf:"name"`
	// Title is an optional human-readable name.
	Title string `koanf:"title"`
	// Description tells the user what the prompt is for.
	Description string `koanf:"description"`
	// Arguments are the prompt's string arguments.
	Arguments []PromptArgument `koanf:"arguments"`
	// Messages make up the prompt, in order.
	Messages []PromptMessage `koanf:"messages"`
}

// PromptArgument is one argument of a prompt.
type PromptArgument struct {
	// Name is the argument's name; expressions read it as args.NAME.
	Name string `koanf:"name"`
	// Description tells the user what to give.
	Description string `koanf:"description"`
	// Required arguments must be given.
	Required bool `koanf:"required"`
}

// PromptMessage is one message of a prompt: exactly one of Text, Resource
// and Image, each an expression over args producing a string.
type PromptMessage struct {
	// Role is user (the default) or assistant.
	Role string `koanf:"role"`
	// Text is the message's text.
	Text string `koanf:"text"`
	// Resource is the URI of a configured resource, read and embedded.
	Resource string `koanf:"resource"`
	// Image is the URI of a configured resource whose content is an image,
	// sent as image content.
	Image string `koanf:"image"`
}

// RedisSpec is the redis section: the Redis that replicas share state in.
type RedisSpec struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// for TLS. It
	// may hold a password: ${VAR} and ${file:/path} are resolved here, and
	// it is never shown. Empty means no Redis.
	URL string `koanf:"url"`
}

// CacheSpec bounds the response cache shared by every tool with a cache
// section.
type CacheSpec struct {
	// MaxEntries caps the number of cached results; zero means 10,000.
	MaxEntries int `koanf:"max_entries"`
	// MaxBytes caps the size of the cached results in bytes (their content
	// plus a fixed overhead per entry); zero means 64 MiB. The least recently
	// used entries are evicted first.
	MaxBytes int64 `koanf:"max_bytes"`
}

// RateLimitsSpec is the rate_limits section.
type RateLimitsSpec struct {
	// Caller bounds each caller's tools/call rate across all tools; nil
	// means no limit.
	Caller *mapping.RateLimitSpec `koanf:"caller"`
	// ClientIP bounds the HTTP requests of one client address at the front
	// door, before any MCP decoding (answered 429); nil means no limit.
	ClientIP *mapping.RateLimitSpec `koanf:"client_ip"`
	// MaxKeys caps how many callers or addresses are tracked at once (the
	// least recently seen are forgotten); zero means 10,000.
	MaxKeys int `koanf:"max_keys"`
	// Shared keeps the buckets in Redis (the redis section), so that the
	// limits hold across replicas; false keeps them in each replica. When
	// Redis cannot be reached a replica falls back to its own buckets.
	Shared bool `koanf:"shared"`
}

// OpenAPISpec imports the operations of an OpenAPI document (Swagger 2.0,
// OpenAPI 3.0 or 3.1, JSON or YAML) as tools. They join the declared tools
// and are compiled and checked like them.
type OpenAPISpec struct {
	// Spec is a file path (relative to mcp.yaml) or an http(s) URL, read
	// once at load. $refs to other files are read only from beside a file
	// spec; network $refs are never fetched.
	Spec string `koanf:"spec"`
	// Upstream names the entry of the upstreams section the tools call.
	Upstream string `koanf:"upstream"`
	// Include keeps only the operations matching a pattern (empty keeps all):
	// "tag:pet", "GET /store/*", "/pets/*" or an operationId ("get*");
	// * matches any characters. Exclude drops the operations matching one.
	Include []string `koanf:"include"`
	Exclude []string `koanf:"exclude"`
	// Overrides adjust single operations, keyed by operationId or
	// "METHOD /path": name, title, description, hidden, annotations,
	// response, validate, max_result_bytes, scopes, allow, cache, rate_limit
	// and idempotency_key, as on a tool.
	Overrides map[string]openapi.Override `koanf:"overrides"`
	// OutputSchema declares each operation's 2xx JSON schema as the tool's
	// output_schema. Off by default: results that drift from the spec would
	// fail.
	OutputSchema bool `koanf:"output_schema"`
	// Discovery is static (the default: one tool per operation) or dynamic:
	// three tools, NAME_search, NAME_describe and NAME_call (NAME is the
	// upstream's name), let an agent find, read and call any operation, so
	// that a spec of a thousand operations costs a few hundred tokens in
	// tools/list.
	Discovery string `koanf:"discovery"`
}

// ServerSpec is the server section. Every field can be overridden by an
// API2MCP_SERVER_<FIELD> environment variable.
type ServerSpec struct {
	// Name is the server name reported at initialize; empty means "api2mcp".
	Name string `koanf:"name"`
	// Version is the server version reported at initialize; empty means the
	// binary's version.
	Version string `koanf:"version"`
	// Instructions are sent to clients at initialize; empty sends none.
	Instructions string `koanf:"instructions"`
	// Listen is the host:port the HTTP server binds; empty means 127.0.0.1:8080.
	Listen string `koanf:"listen"`
	// PublicURL is the URL clients use to reach the server (behind a proxy);
	// empty means none is known. Its host is accepted in Origin headers.
	PublicURL string `koanf:"public_url"`
	// Stateful makes Streamable HTTP keep sessions (Mcp-Session-Id); false
	// (the default) serves every request on its own, so replicas need no
	// sticky sessions.
	Stateful bool `koanf:"stateful"`
	// SessionTimeout closes stateful and SSE sessions idle for this long; zero
	// means 30m.
	SessionTimeout time.Duration `koanf:"session_timeout"`
	// MaxRequestBytes caps the size of one request body in bytes; zero means
	// 4 MiB.
	MaxRequestBytes int64 `koanf:"max_request_bytes"`
	// ShutdownTimeout is how long in-flight calls may take to finish after
	// SIGINT or SIGTERM; zero means 15s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// MaxSessions caps the stateful sessions held at once; an initialize
	// beyond it gets HTTP 503. Zero means 10000.
	MaxSessions int `koanf:"max_sessions"`
	// AllowedHosts are extra Host header values accepted on requests that
	// arrive over loopback (a reverse proxy on the same machine). localhost,
	// 127.0.0.1, [::1] and public_url's host are always accepted; any other
	// Host on a loopback request is refused (DNS rebinding protection).
	AllowedHosts []string `koanf:"allowed_hosts"`
	// MetricsListen says where Prometheus metrics are served: empty means
	// /metrics on the main listener; host:port an admin listener with
	// /metrics, /healthz and /readyz (keep it private); "off" none.
	MetricsListen string `koanf:"metrics_listen"`
	// PageSize is the most items (tools, resources, prompts) one list
	// response holds; clients follow nextCursor for the rest. Zero means 1000.
	PageSize int `koanf:"page_size"`
	// AllowedOrigins lists the browser origins (scheme://host[:port]) allowed
	// besides the server's own; "*" allows any. Empty allows none.
	AllowedOrigins []string `koanf:"allowed_origins"`
}

// UpstreamSpec is one entry of the upstreams section. It is the only section
// where ${VAR} and ${file:/path} are resolved.
type UpstreamSpec struct {
	// URL is the base URL; tool paths are appended to its path.
	URL string `koanf:"url"`
	// Timeout bounds one upstream call, from connecting to reading the whole
	// body; zero means 30s.
	Timeout time.Duration `koanf:"timeout"`
	// Headers are sent on every request to this upstream (credentials live
	// here). They are never shown to agents, logged or returned.
	Headers map[string]string `koanf:"headers"`
	// ForwardHeaders lists client request headers passed through to the
	// upstream (HTTP transports only). Nothing else is forwarded.
	ForwardHeaders []string `koanf:"forward_headers"`
	// MaxResponseBytes caps the size of a response body in bytes; a larger
	// body fails the call. Zero means 10 MiB.
	MaxResponseBytes int64 `koanf:"max_response_bytes"`
	// ConnectTimeout bounds establishing a connection; zero means 5s.
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
	// Retries is how many times an idempotent call (GET, HEAD, OPTIONS, PUT,
	// DELETE, or any request with an Idempotency-Key) is retried after a
	// connection error, a 502/503/504, or a 429 with Retry-After, within the
	// call's timeout; unset means 2, 0 disables retries.
	Retries *int `koanf:"retries"`
	// RetryBackoff is the base delay before the first retry, doubled for
	// each next one, with full jitter; zero means 100ms.
	RetryBackoff time.Duration `koanf:"retry_backoff"`
	// CircuitBreaker fails calls fast while the upstream is down.
	CircuitBreaker BreakerSpec `koanf:"circuit_breaker"`
	// MaxConcurrent caps the requests in flight to this upstream; more wait
	// for a slot within their call's timeout. Zero means 64.
	MaxConcurrent int `koanf:"max_concurrent"`
	// Credentials hold the secrets of the OpenAPI security schemes of the
	// specs imported for this upstream, keyed by scheme name (the key under
	// components.securitySchemes): an apiKey's value, a bearer token (http
	// bearer, oauth2, openIdConnect) or user:password (http basic). Each
	// imported tool sends the credentials its operation requires, placed as
	// its scheme says.
	Credentials map[string]string `koanf:"credentials"`
	// Auth sends each caller's own credential: type user_token sends, as
	// Authorization: Bearer, the token the caller got from the login
	// provider of auth.mode authorization_server (a GitHub user's token
	// for api.github.com), refreshed when it expires.
	Auth UpstreamAuthSpec `koanf:"auth"`
}

// UpstreamAuthSpec is how an upstream authenticates the calling user.
type UpstreamAuthSpec struct {
	// Type is user_token; empty means none (the upstream's headers only).
	Type string `koanf:"type"`
}

// BreakerSpec configures an upstream's circuit breaker: after Failures
// consecutive failures (connection errors, timeouts and 502/503/504 answers)
// calls fail at
// once for OpenFor, then one probe call decides whether it closes again.
type BreakerSpec struct {
	// Failures is the number of consecutive failures that opens the
	// circuit; zero means 5.
	Failures int `koanf:"failures"`
	// OpenFor is how long the circuit stays open before a probe; zero means
	// 30s.
	OpenFor time.Duration `koanf:"open_for"`
	// Disabled turns the breaker off.
	Disabled bool `koanf:"disabled"`
}

// Config is a loaded, validated and compiled configuration.
type Config struct {
	// Path is the file it was loaded from.
	Path      string
	Server    ServerSpec
	Upstreams map[string]*Upstream
	Tools     []*mapping.Tool
	Resources []*Resource
	Prompts   []*Prompt
	// Auth is the front door as declared, checked by authn.New (mode none
	// when the file has no auth section). Package proxy builds the running
	// Authenticator from it with its logger.
	Auth authn.Spec
	// Catalogs hold the operations of openapi entries with dynamic
	// discovery, served through three tools each.
	Catalogs []*Catalog
	// Credentials are the upstream credentials an imported tool sends, by
	// tool name (secret: never log or return).
	Credentials map[string]*Credential
	// Warnings are problems that do not stop the server.
	Warnings []string
	// Cache is the cache section with defaults applied.
	Cache CacheSpec
	// RateLimits are the limits across tools; nil fields mean none.
	RateLimits RateLimits
	// Policies are the cache and rate-limit settings of each tool, by tool
	// name; a tool with neither has no entry.
	Policies map[string]ToolPolicy
	// RedisURL is the redis section's URL; empty means no Redis. Secret:
	// never log or return it.
	RedisURL string

	secrets []string
}

// Catalog is an imported spec served with dynamic discovery.
type Catalog struct {
	// Name prefixes the three tools: NAME_search, NAME_describe, NAME_call.
	Name    string
	Entries []CatalogEntry
}

// CatalogEntry is one operation of a catalog.
type CatalogEntry struct {
	Tool *mapping.Tool
	// Operation is "METHOD /path" as the spec writes it.
	Operation string
}

// Discovery modes of an openapi entry.
const (
	DiscoveryStatic  = "static"
	DiscoveryDynamic = "dynamic"
)

// Credential is what a tool adds to its upstream requests for the security
// schemes its operation requires. Secret: never log or return.
type Credential struct {
	Header http.Header
	Query  url.Values
	// Cookies are name=value pairs added to the Cookie header.
	Cookies []string
}

// Upstream is a compiled upstream.
type Upstream struct {
	Name             string
	URL              *url.URL
	Timeout          time.Duration
	Header           http.Header // secret: never log or return
	ForwardHeaders   []string    // canonical names
	MaxResponseBytes int64
	ConnectTimeout   time.Duration
	Retries          int
	RetryBackoff     time.Duration
	// BreakerFailures is 0 when the breaker is disabled.
	BreakerFailures int
	BreakerOpenFor  time.Duration
	MaxConcurrent   int
	// UserToken: each call carries the caller's provider token (auth type
	// user_token).
	UserToken bool
}

// Limit is a compiled token bucket: Burst calls at once, refilled at
// Requests per Per.
type Limit struct {
	Requests int
	Per      time.Duration
	Burst    int
	// PerTool: one bucket for every caller of the tool (scope: tool).
	PerTool bool
}

// RateLimits are the compiled rate_limits section.
type RateLimits struct {
	Caller   *Limit
	ClientIP *Limit
	MaxKeys  int
	// Shared: the buckets live in Redis (Config.RedisURL is set).
	Shared bool
}

// ToolCache is a tool's compiled cache section.
type ToolCache struct {
	TTL         time.Duration
	Shared      bool
	AllowBypass bool
}

// ToolPolicy is what package proxy applies to one tool besides its mapping.
type ToolPolicy struct {
	Cache     *ToolCache // nil: not cached
	RateLimit *Limit     // nil: no limit of its own
}
