package configs

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadValidation(t *testing.T) {
	const upstreamWithKey = `
upstreams:
  api:
    url: http://api.internal/v1
    headers:
      X-Api-Key: ${API_KEY}
`
	tests := map[string]struct {
		src  string
		want []string
	}{
		"duplicate tool names": {
			src: validUpstreams + validTools + `
  - name: get_pet
    upstream: api
`,
			want: []string{`tools[1] "get_pet": name: already used by tools[0]`},
		},
		"unknown upstream": {
			src: validUpstreams + `
tools:
  - name: t
    upstream: apii
`,
			want: []string{`tools[0] "t": upstream: "apii" is not in upstreams (have: api)`},
		},
		"missing upstream": {
			src:  validUpstreams + "tools:\n  - name: t\n",
			want: []string{`tools[0] "t": upstream: required`},
		},
		"path placeholder not in input": {
			src: validUpstreams + `
tools:
  - name: get_pet
    upstream: api
    path: /pets/{id}
`,
			want: []string{`tools[0] "get_pet": path: parameter "id" is not in input`},
		},
		"path placeholder neither required nor defaulted": {
			src: validUpstreams + `
tools:
  - name: get_pet
    upstream: api
    path: /pets/{id}
    input:
      properties:
        id: {type: string}
`,
			want: []string{`tools[0] "get_pet": path: parameter "id" must be required or have a default`},
		},
		"path placeholder with a default": {
			src: validUpstreams + `
tools:
  - name: get_pet
    upstream: api
    path: /pets/{id}
    input:
      properties:
        id: {type: string, default: me}
`,
		},
		"header mapping overrides an upstream header": {
			src: upstreamWithKey + `
tools:
  - name: t
    upstream: api
    headers:
      x-api-key: args.key
    input:
      properties:
        key: {type: string}
`,
			want: []string{`tools[0] "t": headers.X-Api-Key: is set by upstream "api"; a tool cannot override upstream headers`},
		},
		// koanf's default delimiter is "."; names with dots must survive.
		"names with dots": {
			src: `
upstreams:
  api.v2:
    url: http://api.internal
    headers: {X.Custom-Key: v}
tools:
  - name: github.issues.list
    upstream: api.v2
    query: {page.size: '50'}
`,
		},
		"tool without a name": {
			src:  validUpstreams + "tools:\n  - upstream: api\n",
			want: []string{`tools[0]: name: "" must be 1 to 64 characters from [A-Za-z0-9_.-]`},
		},
		"forward Authorization": {
			src:  validUpstreams + "    forward_headers: [authorization]\n",
			want: []string{"upstreams.api.forward_headers[0]: Authorization is never forwarded: the agent's credentials must not reach the upstream"},
		},
		"forward Cookie after a good one": {
			src:  validUpstreams + "    forward_headers: [X-Tenant-Id, Cookie]\n",
			want: []string{"upstreams.api.forward_headers[1]: Cookie is never forwarded: the agent's credentials must not reach the upstream"},
		},
		"forward a bad header name": {
			src:  validUpstreams + "    forward_headers: ['X Tenant']\n",
			want: []string{`upstreams.api.forward_headers[0]: "X Tenant" is not a valid header name`},
		},
		"bad header name": {
			src:  validUpstreams + "    headers: {'X Api Key': v}\n",
			want: []string{"upstreams.api.headers.X Api Key: not a valid header name"},
		},
		"url scheme": {
			src:  "upstreams:\n  api:\n    url: ftp://files.internal\n",
			want: []string{"upstreams.api.url: scheme must be http or https"},
		},
		"url without scheme": {
			src:  "upstreams:\n  api:\n    url: api.internal/v1\n",
			want: []string{"upstreams.api.url: scheme must be http or https"},
		},
		"url missing": {
			src:  "upstreams:\n  api:\n    timeout: 5s\n",
			want: []string{"upstreams.api.url: required"},
		},
		"negative timeout": {
			src:  validUpstreams + "    timeout: -1s\n",
			want: []string{"upstreams.api.timeout: must not be negative"},
		},
		"negative max_response_bytes": {
			src:  validUpstreams + "    max_response_bytes: -1\n",
			want: []string{"upstreams.api.max_response_bytes: must not be negative"},
		},
		"listen without a port": {
			src:  "server:\n  listen: localhost\n" + validUpstreams,
			want: []string{`server.listen: "localhost" is not host:port: address localhost: missing port in address`},
		},
		"listen with a port out of range": {
			src:  "server:\n  listen: 127.0.0.1:80800\n" + validUpstreams,
			want: []string{`server.listen: "127.0.0.1:80800" has no valid port (want 0 to 65535)`},
		},
		"listen on all interfaces": {
			src: "server:\n  listen: ':8080'\nauth:\n  allow_none_on_public_listen: true\n" + validUpstreams,
		},
		"auth none on all interfaces": {
			src:  "server:\n  listen: ':8080'\n" + validUpstreams,
			want: []string{`auth.mode: none is allowed only on a loopback listen address, and server.listen is ":8080" (set auth.mode to api_key or oauth, or auth.allow_none_on_public_listen: true to force it)`},
		},
		"public_url not absolute": {
			src:  "server:\n  public_url: mcp.example.com\n" + validUpstreams,
			want: []string{`server.public_url: "mcp.example.com" is not an absolute http(s) URL`},
		},
		"allowed origin with a path": {
			src:  "server:\n  allowed_origins: ['https://app.example.com/x']\n" + validUpstreams,
			want: []string{`server.allowed_origins[0]: "https://app.example.com/x" is not an origin (scheme://host[:port])`},
		},
		"negative durations and sizes": {
			src: "server:\n  session_timeout: -1s\n  shutdown_timeout: -1s\n  max_request_bytes: -1\n" + validUpstreams,
			want: []string{
				"server.session_timeout: must not be negative",
				"server.shutdown_timeout: must not be negative",
				"server.max_request_bytes: must not be negative",
			},
		},
		"tool errors keep the tool's other errors": {
			src: validUpstreams + `
tools:
  - name: bad tool
    upstream: nowhere
    method: FETCH
    path: /x/{id}
`,
			want: []string{
				`tools[0] "bad tool": upstream: "nowhere" is not in upstreams (have: api)`,
				`tools[0] "bad tool": name: "bad tool" must be 1 to 64 characters from [A-Za-z0-9_.-]`,
				`tools[0] "bad tool": method: "FETCH" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`,
				`tools[0] "bad tool": path: parameter "id" is not in input`,
			},
		},
		"expression error with line and column": {
			src: validUpstreams + `
tools:
  - name: list_issues
    upstream: api
    input:
      properties:
        org: {type: string}
    query:
      org: args.orgg
`,
			want: []string{
				`tools[0] "list_issues": query.org: unknown argument "orgg" (not in input.properties) (line 1, column 6)`,
				" | args.orgg",
				" | .....^",
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := load(t, tt.src, env{"API_KEY": "k-123456"}, nil)
			if diff := cmp.Diff(tt.want, problems(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if (cfg == nil) != (len(tt.want) > 0) {
				t.Errorf("Load returned config %v with error %v", cfg != nil, err)
			}
		})
	}
}

// five_mistakes.yaml has one mistake in each part of the file. validate must
// report all of them at once, each with its path, in a stable order.
func TestLoadFiveMistakes(t *testing.T) {
	src, err := os.ReadFile("testdata/five_mistakes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = load(t, string(src), env{}, nil)
	want := []string{
		"tool: unknown key",
		"upstreams.petstore.headers.X-Api-Key: environment variable FIVE_MISTAKES_API_KEY is not set",
		`server.listen: "localhost" is not host:port: address localhost: missing port in address`,
		`tools[0] "get_pet": path: parameter "petId" is not in input`,
		`tools[1] "find_pets": query.status: unknown argument "staus" (not in input.properties) (line 1, column 6)`,
		" | args.staus",
		" | .....^",
	}
	if diff := cmp.Diff(want, problems(err)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestLoadAuth(t *testing.T) {
	const publicURL = "server:\n  public_url: https://mcp.example.com\n"
	tests := map[string]struct {
		src  string
		want []string
	}{
		"oauth loads": {
			src: publicURL + "auth:\n  mode: oauth\n  scopes: [mcp]\n  oauth:\n    issuer: https://id.example.com/realms/acme\n    algorithms: [RS256, ES384]\n    audiences: [account]\n    introspection: { url: https://id.example.com/introspect, client_id: api2mcp, client_secret: '${INTRO_SECRET}' }\n",
		},
		"api keys from the environment and a file": {
			src: "auth:\n  mode: api_key\n  api_keys:\n    - { name: a, key: '${KEY_A}' }\n    - { name: b, key: '${file:/run/secrets/b}', scopes: [write] }\n",
		},
		"unknown mode": {
			src:  "auth:\n  mode: basic\n",
			want: []string{`auth.mode: "basic" is not none, api_key, oauth or authorization_server`},
		},
		"oauth without public_url or issuer": {
			src: "auth:\n  mode: oauth\n",
			want: []string{
				"auth.oauth: mode oauth needs server.public_url: it is the resource identifier tokens must be issued for",
				"auth.oauth.issuer: required: the authorization server's issuer identifier",
			},
		},
		"algorithm confusion refused": {
			src: publicURL + "auth:\n  mode: oauth\n  oauth:\n    issuer: https://id.example.com\n    algorithms: [none, HS256, RS1]\n",
			want: []string{
				`auth.oauth.algorithms[0]: "none" is never accepted: unsigned tokens prove nothing`,
				`auth.oauth.algorithms[1]: "HS256" is refused: HMAC needs a shared secret, and with a public key it lets anyone forge tokens`,
				`auth.oauth.algorithms[2]: "RS1" is not one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA`,
			},
		},
		"bad urls and scopes": {
			src: publicURL + "auth:\n  mode: oauth\n  scopes: ['a b']\n  oauth:\n    issuer: id.example.com\n    jwks_url: /keys\n    introspection: { url: ftp://x }\n",
			want: []string{
				`auth.scopes[0]: "a b" is not a valid scope (printable ASCII without spaces, quotes or backslashes)`,
				`auth.oauth.issuer: "id.example.com" is not an absolute http(s) URL`,
				`auth.oauth.jwks_url: "/keys" is not an absolute http(s) URL`,
				`auth.oauth.introspection.url: "ftp://x" is not an absolute http(s) URL`,
			},
		},
		"short, duplicate and nameless keys": {
			src: "auth:\n  mode: api_key\n  api_keys:\n    - { name: a, key: short }\n    - { key: '${KEY_A}' }\n    - { name: a, key: '${KEY_A}' }\n",
			want: []string{
				"auth.api_keys[0].key: must be at least 16 characters (write it as ${VAR} or ${file:/path})",
				"auth.api_keys[1].name: required: it is the caller's identity",
				`auth.api_keys[2].name: "a" is already used by api_keys[0]`,
				"auth.api_keys[2].key: is the same key as api_keys[1]",
			},
		},
		"api_key mode without keys": {
			src:  "auth:\n  mode: api_key\n",
			want: []string{"auth.api_keys: required in mode api_key (at least one key)"},
		},
		"missing key variable": {
			src:  "auth:\n  mode: api_key\n  api_keys:\n    - { name: a, key: '${NOPE}' }\n",
			want: []string{"auth.api_keys[0].key: environment variable NOPE is not set", "auth.api_keys[0].key: must be at least 16 characters (write it as ${VAR} or ${file:/path})"},
		},
		"placeholder elsewhere in auth": {
			src:  publicURL + "auth:\n  mode: oauth\n  oauth:\n    issuer: '${ISSUER}'\n",
			want: []string{"auth.oauth.issuer: ${…} is resolved only in the upstreams section, redis.url and auth credentials (secrets never reach tools)", `auth.oauth.issuer: "${ISSUER}" is not an absolute http(s) URL`},
		},
		"keys in mode none": {
			src:  "auth:\n  api_keys: [{ name: a, key: '${KEY_A}' }]\n",
			want: []string{"auth.api_keys: set, but mode is none (want mode: api_key)"},
		},
		"bad tool scope and allow": {
			src: "auth:\n  mode: api_key\n  api_keys: [{ name: a, key: '${KEY_A}' }]\n" + `
tools:
  - name: t
    upstream: api
    scopes: ['x"y']
    allow: 'claims.sub == 1 +'
`,
			want: []string{
				`tools[0] "t": scopes[0]: "x\"y" is not a valid scope (printable ASCII without spaces, quotes or backslashes)`,
				`tools[0] "t": allow: unexpected token EOF (line 1, column 17)`,
				" | claims.sub == 1 +",
				" | ................^",
			},
		},
	}
	e := env{"KEY_A": "key-a-0123456789abcdef", "INTRO_SECRET": "intro-secret"}
	files := map[string]string{"/run/secrets/b": "key-b-0123456789abcdef\n"}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := load(t, validUpstreams+tt.src, e, files)
			if diff := cmp.Diff(tt.want, problems(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			// Front-door credentials are secrets like upstream ones.
			for _, k := range cfg.Auth.APIKeys {
				if got := cfg.Redact("key " + k.Key); got != "key [redacted]" {
					t.Errorf("Redact(api key %s) = %q", k.Name, got)
				}
			}
			if s := cfg.Auth.OAuth.Introspection.ClientSecret; s != "" && s != "intro-secret" {
				t.Errorf("client_secret = %q, want the resolved variable", s)
			}
		})
	}
}
