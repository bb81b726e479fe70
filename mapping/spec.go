package mapping

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
	// Upstream names the entry of the upstreams section the tool calls.
	Upstream string `koanf:"upstream"`
	// Method is the HTTP method; empty means GET.
	Method string `koanf:"method"`
	// Path is appended to the upstream URL. {name} placeholders are filled from
	// the argument of that name, percent-encoded; the argument must be required
	// or have a default.
	Path string `koanf:"path"`
	// Input is the JSON Schema of the arguments (the tool's inputSchema). Its
	// root must be an object schema; extra arguments are rejected unless it
	// sets additionalProperties. Empty means a tool without arguments.
	Input map[string]any `koanf:"input"`
	// Query maps query parameter names to expressions. A nil result drops the
	// parameter; an array repeats it.
	Query map[string]string `koanf:"query"`
	// Headers maps header names to expressions. A nil result drops the header;
	// an array is joined with ", ".
	Headers map[string]string `koanf:"headers"`
	// Body is the JSON request body: one expression producing any JSON value
	// (for example "args"), or a map of field names to expressions (nil results
	// are dropped).
	Body any `koanf:"body"`
	// Annotations override the hints derived from the HTTP method.
	Annotations Annotations `koanf:"annotations"`
}

// Annotations are the MCP tool hints. Unset fields are derived from the
// method: GET and HEAD are read-only; PUT and DELETE are idempotent and
// destructive; POST and PATCH are neither idempotent nor read-only.
type Annotations struct {
	ReadOnly    *bool `koanf:"read_only"`
	Destructive *bool `koanf:"destructive"`
	Idempotent  *bool `koanf:"idempotent"`
	OpenWorld   *bool `koanf:"open_world"`
}
