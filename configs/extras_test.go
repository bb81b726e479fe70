package configs

import (
	"os"
	"strings"
	"testing"
)

func TestResourcesAndPromptsErrors(t *testing.T) {
	const base = "upstreams: { api: { url: http://127.0.0.1:1 } }\n"
	tests := map[string]struct {
		yaml string
		want string
	}{
		"uri and template":              {"resources: [{ name: r, uri: 'x://a', uri_template: 'x://{id}', upstream: api, path: /a }]", `resources[0] "r": uri: set uri or uri_template, not both`},
		"neither":                       {"resources: [{ name: r, upstream: api, path: /a }]", `resources[0] "r": uri: required (or uri_template)`},
		"template without a variable":   {"resources: [{ name: r, uri_template: 'x://a', upstream: api, path: /a }]", `uri_template: "x://a" needs {name} variables`},
		"unknown upstream":              {"resources: [{ name: r, uri: 'x://a', upstream: nope, path: /a }]", `resources[0] "r": upstream: "nope" is not in upstreams`},
		"path variable not in template": {"resources: [{ name: r, uri_template: 'x://{id}', upstream: api, path: '/a/{other}' }]", `path: parameter "other" is not in input (the variables come from uri_template)`},
		"duplicate name":                {"resources: [{ name: r, uri: 'x://a', upstream: api, path: /a }, { name: r, uri: 'x://b', upstream: api, path: /b }]", `resources[1] "r": name: already used by resources[0]`},
		"duplicate uri":                 {"resources: [{ name: a, uri: 'x://a', upstream: api, path: /a }, { name: b, uri: 'x://a', upstream: api, path: /b }]", `resources[1] "b": uri: already used by resources[0]`},
		"two kinds in a message":        {"prompts: [{ name: p, messages: [{ text: '\"a\"', image: '\"x://a\"' }] }]", `prompts[0] "p": messages[0]: set exactly one of text, resource and image`},
		"no messages":                   {"prompts: [{ name: p }]", `prompts[0] "p": messages: a prompt needs at least one message`},
		"bad role":                      {"prompts: [{ name: p, messages: [{ role: system, text: '\"a\"' }] }]", `messages[0].role: "system" is not user or assistant`},
		"undeclared argument":           {"prompts: [{ name: p, arguments: [{ name: a }], messages: [{ text: 'args.b' }] }]", `messages[0].text: unknown argument "b"`},
		"not a string":                  {"prompts: [{ name: p, messages: [{ text: '1 + 1' }] }]", `messages[0].text: expected string`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Load("mcp.yaml", &Options{
				Environ:  func() []string { return nil },
				ReadFile: func(string) ([]byte, error) { return []byte(base + tt.yaml), nil },
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error:\n%v\nwant it to contain %s", err, tt.want)
			}
		})
	}
}

// TestOpenAPIOverridePolicies: scopes, allow, cache and rate limits set in an
// OpenAPI override reach the imported tool like a declared tool's.
func TestOpenAPIOverridePolicies(t *testing.T) {
	const yaml = `
server: { public_url: "https://mcp.example.com" }
auth: { mode: api_key, api_keys: [{ name: ci, key: "0123456789abcdef0123" }] }
upstreams: { petstore: { url: "http://127.0.0.1:1", credentials: { api_key: "0123456789abcdef" } } }
openapi:
  - spec: ../examples/openapi/petstore.yaml
    upstream: petstore
    overrides:
      getPetById: { name: get_pet, scopes: [pets:read], cache: { ttl: 1m }, rate_limit: { requests: 2 } }
`
	cfg, err := Load("mcp.yaml", &Options{
		Environ: func() []string { return nil },
		ReadFile: func(p string) ([]byte, error) {
			if p == "mcp.yaml" {
				return []byte(yaml), nil
			}
			return os.ReadFile(p)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.ToolScopes(); len(got) != 1 || got[0] != "pets:read" {
		t.Errorf("tool scopes %v, want [pets:read]", got)
	}
	pol, ok := cfg.Policies["get_pet"]
	if !ok || pol.Cache == nil || pol.RateLimit == nil || pol.RateLimit.Requests != 2 {
		t.Errorf("get_pet's policy %+v, want its cache and rate limit", pol)
	}
}
