package configs

import (
	"net/http"
	"net/url"
	"time"

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
	DefaultUpstreamTimeout  = 30 * time.Second
	DefaultMaxResponseBytes = 10 << 20 // 10 MiB
)

// File is mcp.yaml as written, after environment overrides and secret
// resolution, before compilation.
type File struct {
	Server    ServerSpec              `koanf:"server"`
	Upstreams map[string]UpstreamSpec `koanf:"upstreams"`
	Tools     []mapping.Spec          `koanf:"tools"`
	OpenAPI   []OpenAPISpec           `koanf:"openapi"`
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
	// response, validate, max_result_bytes.
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
	// Credentials hold the secrets of the OpenAPI security schemes of the
	// specs imported for this upstream, keyed by scheme name (the key under
	// components.securitySchemes): an apiKey's value, a bearer token (http
	// bearer, oauth2, openIdConnect) or user:password (http basic). Each
	// imported tool sends the credentials its operation requires, placed as
	// its scheme says.
	Credentials map[string]string `koanf:"credentials"`
}

// Config is a loaded, validated and compiled configuration.
type Config struct {
	// Path is the file it was loaded from.
	Path      string
	Server    ServerSpec
	Upstreams map[string]*Upstream
	Tools     []*mapping.Tool
	// Catalogs hold the operations of openapi entries with dynamic
	// discovery, served through three tools each.
	Catalogs []*Catalog
	// Credentials are the upstream credentials an imported tool sends, by
	// tool name (secret: never log or return).
	Credentials map[string]*Credential
	// Warnings are problems that do not stop the server.
	Warnings []string

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
}
