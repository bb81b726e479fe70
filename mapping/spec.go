package mapping

import "time"

// Spec is one tool as declared in mcp.yaml. Package configs decodes it; [Compile]
// turns it into a [Tool]. Every mapping value (query, headers, body) is an expr
// expression over the typed request environment (args, claims), not a
// template: its result is a typed value, so quoting bugs cannot exist.
type Spec struct {
	// Name is the tool name agents call: 1 to 64 characters from [A-Za-z0-9_.-].
	Name string `koanf:"name"`
	// Title is an optional human-readable name shown by clients.
	Title string `koanf:"title"`
	// Description tells the model what the tool does.
	Description string `koanf:"description"`
	// Icons are image URLs (https or data:) clients may show for the tool.
	Icons []string `koanf:"icons"`
	// Upstream names the entry of the upstreams section the tool calls.
	Upstream string `koanf:"upstream"`
	// Method is the HTTP method; empty means GET.
	Method string `koanf:"method"`
	// Path is appended to the upstream URL. {name} placeholders are filled from
	// the argument of that name, percent-encoded; the argument must be required
	// or have a default. Placeholders take RFC 6570's label and matrix
	// operators and explode modifier, which are OpenAPI's path styles:
	// {id} simple (1,2 for an array, k,v for an object), {id*} (k=v,k=v),
	// {.id} label (.1,2), {.id*} (.1.2), {;id} matrix (;id=1,2) and {;id*}
	// (;id=1;id=2, ;k=v;k=v).
	Path string `koanf:"path"`
	// Input is the JSON Schema of the arguments (the tool's inputSchema). Its
	// root must be an object schema; extra arguments are rejected unless it
	// sets additionalProperties. Empty means a tool without arguments.
	Input map[string]any `koanf:"input"`
	// Query maps query parameter names to expressions. A nil result drops the
	// parameter; an empty map (query: {}) sends no query and turns off the
	// default mapping; an array repeats it and an object is sent as JSON unless
	// QueryStyle says otherwise.
	Query map[string]string `koanf:"query"`
	// QueryStyle sets how a query parameter's arrays and objects are
	// serialised: repeat (default: a=1&a=2, objects as JSON), comma (a=1,2),
	// space (a=1%202), pipe (a=1|2), json (a=[1,2]), deepObject (a[k]=v) or
	// explode (an object's keys become parameters: k=v). Spaces inside values
	// are written as +, as form encoding does.
	QueryStyle map[string]string `koanf:"query_style"`
	// Headers maps header names to expressions. A nil result drops the header;
	// an array is joined with ", ".
	Headers map[string]string `koanf:"headers"`
	// Body is the JSON request body: one expression producing any JSON value
	// (for example "args"; a nil result sends no body), or a map of field
	// names to expressions (nil results are dropped).
	Body any `koanf:"body"`
	// Form is an application/x-www-form-urlencoded body: field names to
	// expressions. Nil results are dropped, arrays repeat the field (a=1&a=2)
	// and objects are sent with brackets (a[k]=v; arrays inside them indexed,
	// a[k][0]=v) unless FormStyle says otherwise.
	Form map[string]string `koanf:"form"`
	// FormStyle sets the serialisation of a form field, with the names of
	// QueryStyle.
	FormStyle map[string]string `koanf:"form_style"`
	// Multipart is a multipart/form-data body: field names to expressions.
	// Scalars become text fields; file(data, filename[, content_type]) makes a
	// file part; an array makes one part per element.
	Multipart map[string]string `koanf:"multipart"`
	// Scopes are the OAuth scopes a caller must hold to see and call the
	// tool (every one of them). The front door enforces them; empty means
	// any authenticated caller.
	Scopes []string `koanf:"scopes"`
	// Allow is an optional expression over claims and args that must be
	// true for the call to proceed, checked after the input schema and
	// before the validate rules. A false result (or one that fails) denies
	// the call with a result that says access is denied, nothing more.
	Allow string `koanf:"allow"`
	// Raw is a body sent as it is: one expression producing a string (text,
	// or bytes from fromBase64). A nil result sends no body.
	Raw string `koanf:"raw"`
	// RawContentType is the Content-Type of a Raw body; empty means
	// application/octet-stream.
	RawContentType string `koanf:"raw_content_type"`
	// Validate are rules checked after the input schema, in order; every
	// failing rule's message is reported to the agent.
	Validate []Rule `koanf:"validate"`
	// Response shapes the result the agent gets.
	Response ResponseSpec `koanf:"response"`
	// OutputSchema is the JSON Schema of the structured result (the tool's
	// outputSchema); its root must be an object schema. When set, every
	// successful result is checked against it.
	OutputSchema map[string]any `koanf:"output_schema"`
	// MaxResultBytes caps the text and structured content of a result, in
	// bytes; larger results are cut (JSON arrays at an element boundary) with
	// a note saying how much was cut. Zero means 100 KiB.
	MaxResultBytes int `koanf:"max_result_bytes"`
	// Annotations override the hints derived from the HTTP method.
	Annotations Annotations `koanf:"annotations"`
	// IdempotencyKey is an expression whose string result is sent as the
	// Idempotency-Key header (nil sends none), so that a repeated call does
	// not repeat the action upstream; for example 'args.order_id' or
	// '"transfer-" + args.request_id'. Not allowed on GET and
	// HEAD, which are safe already. A request carrying the header may be
	// retried like an idempotent one.
	IdempotencyKey string `koanf:"idempotency_key"`
	// Cache caches this tool's successful results; nil caches nothing. It is
	// plain data here: package configs checks it and package proxy applies it.
	Cache *CacheSpec `koanf:"cache"`
	// RateLimit bounds how often the tool may be called; nil means no limit
	// of its own. Plain data, applied by package proxy.
	RateLimit *RateLimitSpec `koanf:"rate_limit"`
}

// CacheSpec is a tool's cache section.
type CacheSpec struct {
	// TTL is how long a result is served from the cache; required, positive.
	TTL time.Duration `koanf:"ttl"`
	// Scope is "user" (the default: each caller has its own entries) or
	// "shared" (one entry for every caller: only for public data).
	Scope string `koanf:"scope"`
	// Bypass lets a call skip the cache lookup (and refresh the entry) by
	// sending _meta {"api2mcp/cache": "no-cache"}; false ignores that request.
	Bypass bool `koanf:"bypass"`
}

// RateLimitSpec is a token bucket: Requests per Per, with bursts of Burst.
type RateLimitSpec struct {
	// Requests is the number of calls allowed per Per; required, positive.
	Requests int `koanf:"requests"`
	// Per is the period of Requests; zero means one second.
	Per time.Duration `koanf:"per"`
	// Burst is how many calls may come at once; zero means Requests.
	Burst int `koanf:"burst"`
	// Scope is "caller" (the default: each caller has its own bucket) or
	// "tool" (one bucket for all callers). Only for a tool's rate_limit.
	Scope string `koanf:"scope"`
}

// Annotations are the MCP tool hints. Unset fields are derived from the
// method: GET and HEAD are read-only; PUT and DELETE are idempotent and
// destructive; POST and PATCH are neither idempotent nor read-only.
type Annotations struct {
	// ReadOnly says the tool does not modify its environment (readOnlyHint).
	ReadOnly *bool `koanf:"read_only"`
	// Destructive says the tool may destroy or overwrite data
	// (destructiveHint).
	Destructive *bool `koanf:"destructive"`
	// Idempotent says repeating a call has no further effect
	// (idempotentHint).
	Idempotent *bool `koanf:"idempotent"`
	// OpenWorld says the tool reaches an open world of external entities
	// (openWorldHint); unset leaves it to the client's default.
	OpenWorld *bool `koanf:"open_world"`
}

// Rule is one validation rule: an expression over args and claims that must
// be true, and the message the agent gets when it is not.
type Rule struct {
	// Rule is an expression over args and claims that must be true.
	Rule string `koanf:"rule"`
	// Message is what the agent reads when the rule is false.
	Message string `koanf:"message"`
}

// ResponseSpec shapes results with expressions over args, claims, status,
// headers (lower-case names) and body (decoded JSON, or text).
type ResponseSpec struct {
	// Result is the structured result for a 2xx response; empty means the
	// upstream's JSON as it is.
	Result string `koanf:"result"`
	// Text is the text the model reads for a 2xx response (a string); empty
	// means the compact JSON of the result. For an image or other binary
	// body it is a caption beside the content (body is nil then).
	Text string `koanf:"text"`
	// Error is the message for a non-2xx response (a string); empty means the
	// status and the start of the body.
	Error string `koanf:"error"`
	// Content, when set, is the whole content list of a 2xx result: a list of
	// items {type: text, text}, {type: image|audio, data (base64),
	// mime_type}, {type: resource, uri, mime_type, text or blob (base64)}.
	// body_base64 holds a binary body for it.
	Content string `koanf:"content"`
	// Statuses describe non-2xx statuses in the default error message, by
	// code ("404"), range ("4XX") or "default": "upstream returned HTTP 404
	// Not Found (No pet has this id.): {…}".
	Statuses map[string]string `koanf:"statuses"`
}
