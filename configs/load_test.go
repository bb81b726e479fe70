package configs

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// env is a fake process environment for Load.
type env map[string]string

// loadOptions returns Options that read path as src, files from files and
// variables from e, so that tests never depend on the real environment or
// file system.
func loadOptions(path, src string, e env, files map[string]string) *Options {
	return &Options{
		Environ: func() []string {
			var out []string
			for k, v := range e {
				out = append(out, k+"="+v)
			}
			return out
		},
		LookupEnv: func(k string) (string, bool) {
			v, ok := e[k]
			return v, ok
		},
		ReadFile: func(p string) ([]byte, error) {
			if p == path {
				return []byte(src), nil
			}
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		},
	}
}

func load(t *testing.T, src string, e env, files map[string]string) (*Config, error) {
	t.Helper()
	return Load("mcp.yaml", loadOptions("mcp.yaml", src, e, files))
}

// problems returns the lines of a load error: one per problem, plus the
// snippet lines of expression errors.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// validTools is a tools section that loads with upstream "api".
const validTools = `
tools:
  - name: get_pet
    description: Get one pet.
    upstream: api
    path: /pets/{id}
    input:
      type: object
      properties:
        id: { type: integer }
      required: [id]
`

const validUpstreams = `
upstreams:
  api:
    url: http://api.internal/v1
`

func TestLoadValid(t *testing.T) {
	src := `
server:
  name: petstore
  listen: 0.0.0.0:9090
  stateful: true
  session_timeout: 5m
  max_request_bytes: 1024
  allowed_origins: ["https://app.example.com", "*"]
auth:
  mode: api_key
  api_keys:
    - { name: ci-bot, key: "${BOT_KEY}", scopes: [pets:read] }
upstreams:
  api:
    url: http://api.internal/v1/
    timeout: 1m30s
    headers:
      X-Api-Key: ${API_KEY}
    forward_headers: [x-tenant-id]
    max_response_bytes: 2048
` + validTools
	cfg, err := load(t, src, env{"API_KEY": "k-123456", "BOT_KEY": "bot-key-0123456789abcdef"}, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	wantServer := ServerSpec{
		Name:            "petstore",
		Listen:          "0.0.0.0:9090",
		Stateful:        true,
		SessionTimeout:  5 * time.Minute,
		MaxRequestBytes: 1024,
		ShutdownTimeout: DefaultShutdownTimeout,
		MaxSessions:     DefaultMaxSessions,
		AllowedOrigins:  []string{"https://app.example.com", "*"},
	}
	if diff := cmp.Diff(wantServer, cfg.Server); diff != "" {
		t.Errorf("Server (-want +got):\n%s", diff)
	}
	up := cfg.Upstreams["api"]
	if up == nil {
		t.Fatalf("Upstreams = %v, want an entry api", cfg.Upstreams)
	}
	type upstreamView struct {
		Name, URL        string
		Timeout          time.Duration
		Header           http.Header
		ForwardHeaders   []string
		MaxResponseBytes int64
	}
	gotUp := upstreamView{up.Name, up.URL.String(), up.Timeout, up.Header, up.ForwardHeaders, up.MaxResponseBytes}
	wantUp := upstreamView{
		Name:             "api",
		URL:              "http://api.internal/v1", // trailing slash trimmed: tool paths start with /
		Timeout:          90 * time.Second,
		Header:           http.Header{"X-Api-Key": {"k-123456"}},
		ForwardHeaders:   []string{"X-Tenant-Id"},
		MaxResponseBytes: 2048,
	}
	if diff := cmp.Diff(wantUp, gotUp); diff != "" {
		t.Errorf("upstream api (-want +got):\n%s", diff)
	}
	var names []string
	for _, tool := range cfg.Tools {
		names = append(names, tool.Name())
	}
	if diff := cmp.Diff([]string{"get_pet"}, names); diff != "" {
		t.Errorf("tool names (-want +got):\n%s", diff)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("Warnings = %q, want none", cfg.Warnings)
	}
	if cfg.Path != "mcp.yaml" {
		t.Errorf("Path = %q, want mcp.yaml", cfg.Path)
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := load(t, validUpstreams, nil, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	wantServer := ServerSpec{
		Name:            DefaultServerName,
		Listen:          DefaultListen,
		SessionTimeout:  DefaultSessionTimeout,
		MaxRequestBytes: DefaultMaxRequestBytes,
		ShutdownTimeout: DefaultShutdownTimeout,
		MaxSessions:     DefaultMaxSessions,
	}
	if diff := cmp.Diff(wantServer, cfg.Server); diff != "" {
		t.Errorf("Server (-want +got):\n%s", diff)
	}
	up := cfg.Upstreams["api"]
	if up.Timeout != DefaultUpstreamTimeout || up.MaxResponseBytes != DefaultMaxResponseBytes {
		t.Errorf("upstream timeout, max_response_bytes = %v, %d; want %v, %d", up.Timeout, up.MaxResponseBytes, DefaultUpstreamTimeout, DefaultMaxResponseBytes)
	}
	if diff := cmp.Diff([]string{"no tools are declared"}, cfg.Warnings); diff != "" {
		t.Errorf("Warnings (-want +got):\n%s", diff)
	}
}

func TestLoadFromDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mcp.yaml")
	if err := os.WriteFile(path, []byte(validUpstreams+validTools), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := &Options{Environ: func() []string { return nil }}
	if _, err := Load(path, noEnv); err != nil {
		t.Errorf("Load(%s): %v", path, err)
	}
	_, err := Load(filepath.Join(dir, "missing.yaml"), noEnv)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing.yaml) = %v, want an error wrapping fs.ErrNotExist", err)
	}
}

func TestLoadYAMLSyntaxError(t *testing.T) {
	_, err := load(t, "server:\n  name: [unclosed\n", nil, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "parsing mcp.yaml: ") {
		t.Errorf("Load = %v, want an error starting with %q", err, "parsing mcp.yaml: ")
	}
}

func TestLoadStrictDecoding(t *testing.T) {
	tests := map[string]struct {
		src  string
		want []string
	}{
		"unknown top-level key": {
			src:  validUpstreams + validTools + "tool: []\n",
			want: []string{"tool: unknown key"},
		},
		"two unknown top-level keys": {
			src:  validUpstreams + validTools + "tool: []\nupstream: x\n",
			want: []string{"tool: unknown key", "upstream: unknown key"},
		},
		"unknown key in server": {
			src:  "server:\n  listn: 127.0.0.1:1\n" + validUpstreams,
			want: []string{"server.listn: unknown key"},
		},
		"unknown key in an upstream": {
			src:  validUpstreams + "    header: {X-A: b}\n",
			want: []string{"upstreams.api.header: unknown key"},
		},
		"unknown key in a tool": {
			src:  validUpstreams + validTools + "    methd: POST\n",
			want: []string{"tools[0].methd: unknown key"},
		},
		"unknown keys in two tools": {
			src: validUpstreams + `
tools:
  - {name: a, upstream: api, methd: GET}
  - {name: b, upstream: api, pth: /b, qery: {}}
`,
			want: []string{"tools[0].methd: unknown key", "tools[1].pth: unknown key", "tools[1].qery: unknown key"},
		},
		"unknown key in annotations": {
			src:  validUpstreams + validTools + "    annotations: {readonly: true}\n",
			want: []string{"tools[0].annotations.readonly: unknown key"},
		},
		"string for a bool": {
			src:  "server:\n  stateful: \"yes\"\n" + validUpstreams,
			want: []string{"server.stateful: want true or false, got string yes"},
		},
		"string for an integer": {
			src:  "server:\n  max_request_bytes: abc\n" + validUpstreams,
			want: []string{"server.max_request_bytes: want an integer, got string abc"},
		},
		"number for a string": {
			src:  "server:\n  name: 42\n" + validUpstreams,
			want: []string{"server.name: want a string, got number 42"},
		},
		"mapping for a list": {
			src:  validUpstreams + "tools: {name: x}\n",
			want: []string{"tools: source data must be an array or slice, got map"},
		},
		"bare number for a duration": {
			src:  "server:\n  session_timeout: 10\n" + validUpstreams,
			want: []string{`server.session_timeout: want a duration such as "10s" or "1m30s", got 10`},
		},
		"word for a duration": {
			src:  "server:\n  shutdown_timeout: ten\n" + validUpstreams,
			want: []string{`server.shutdown_timeout: want a duration such as "10s" or "1m30s", got "ten"`},
		},
		"bare number for an upstream timeout": {
			src:  validUpstreams + "    timeout: 10\n",
			want: []string{`upstreams.api.timeout: want a duration such as "10s" or "1m30s", got 10`},
		},
		"upstream name with a dot": {
			src:  "upstreams:\n  api.v2:\n    url: http://x\n    timeout: soon\n",
			want: []string{`upstreams.api.v2.timeout: want a duration such as "10s" or "1m30s", got "soon"`},
		},
		"every problem at once": {
			src: "server:\n  stateful: maybe\n  session_timeout: 1\n" + validUpstreams + "extra: 1\n",
			want: []string{
				"server.stateful: want true or false, got string maybe",
				`server.session_timeout: want a duration such as "10s" or "1m30s", got 1`,
				"extra: unknown key",
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := load(t, tt.src, nil, nil)
			if cfg != nil {
				t.Errorf("Load returned a config for a file with mistakes")
			}
			if diff := cmp.Diff(tt.want, problems(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadEnvOverrides(t *testing.T) {
	base := "server:\n  listen: 127.0.0.1:8080\nauth:\n  allow_none_on_public_listen: true\n" + validUpstreams
	tests := map[string]struct {
		env  env
		want func(ServerSpec) any // the setting under test, as it loaded
		val  any
	}{
		"listen": {
			env:  env{"API2MCP_SERVER_LISTEN": "0.0.0.0:9999"},
			want: func(s ServerSpec) any { return s.Listen },
			val:  "0.0.0.0:9999",
		},
		"stateful": {
			env:  env{"API2MCP_SERVER_STATEFUL": "true"},
			want: func(s ServerSpec) any { return s.Stateful },
			val:  true,
		},
		"stateful as 1": {
			env:  env{"API2MCP_SERVER_STATEFUL": "1"},
			want: func(s ServerSpec) any { return s.Stateful },
			val:  true,
		},
		"duration": {
			env:  env{"API2MCP_SERVER_SESSION_TIMEOUT": "90s"},
			want: func(s ServerSpec) any { return s.SessionTimeout },
			val:  90 * time.Second,
		},
		"integer": {
			env:  env{"API2MCP_SERVER_MAX_REQUEST_BYTES": "65536"},
			want: func(s ServerSpec) any { return s.MaxRequestBytes },
			val:  int64(65536),
		},
		"list": {
			env:  env{"API2MCP_SERVER_ALLOWED_ORIGINS": "https://a.example, https://b.example,"},
			want: func(s ServerSpec) any { return s.AllowedOrigins },
			val:  []string{"https://a.example", "https://b.example"},
		},
		"other variables are ignored": {
			env:  env{"PATH": "/bin", "API2MCPX": "1", "HOME": "/root"},
			want: func(s ServerSpec) any { return s.Listen },
			val:  "127.0.0.1:8080",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := load(t, base, tt.env, nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.val, tt.want(cfg.Server)); diff != "" {
				t.Errorf("setting (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadEnvOverrideErrors(t *testing.T) {
	tests := map[string]struct {
		env  env
		want []string
	}{
		"bad bool": {
			env:  env{"API2MCP_SERVER_STATEFUL": "maybe"},
			want: []string{`environment: API2MCP_SERVER_STATEFUL: strconv.ParseBool: parsing "maybe": invalid syntax`},
		},
		"bad integer": {
			env:  env{"API2MCP_SERVER_MAX_REQUEST_BYTES": "4MiB"},
			want: []string{`environment: API2MCP_SERVER_MAX_REQUEST_BYTES: strconv.ParseInt: parsing "4MiB": invalid syntax`},
		},
		"bad duration": {
			env:  env{"API2MCP_SERVER_SHUTDOWN_TIMEOUT": "15"},
			want: []string{`server.shutdown_timeout: want a duration such as "10s" or "1m30s", got "15"`},
		},
		"bad listen address": {
			env:  env{"API2MCP_SERVER_LISTEN": "8080"},
			want: []string{`server.listen: "8080" is not host:port: address 8080: missing port in address`},
		},
		// The environment must not become a way to put secrets where agents
		// can read them.
		"placeholder in an override": {
			env:  env{"API2MCP_SERVER_INSTRUCTIONS": "key is ${API_KEY}", "API_KEY": "k-123456"},
			want: []string{"server.instructions: ${…} is resolved only in the upstreams section, redis.url and auth credentials (secrets never reach tools)"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, validUpstreams, tt.env, nil)
			if diff := cmp.Diff(tt.want, problems(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// A misspelt override must not be ignored: the error names it and lists the
// settings that exist.
func TestLoadEnvUnknownSetting(t *testing.T) {
	_, err := load(t, validUpstreams, env{"API2MCP_SERVER_LISTN": "0.0.0.0:1"}, nil)
	if err == nil {
		t.Fatal("Load succeeded with API2MCP_SERVER_LISTN set")
	}
	lines := problems(err)
	if len(lines) != 1 {
		t.Fatalf("errors = %q, want one", lines)
	}
	for _, want := range []string{"environment: API2MCP_SERVER_LISTN names no setting", "API2MCP_SERVER_LISTEN", "API2MCP_SERVER_STATEFUL"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("error %q does not contain %q", lines[0], want)
		}
	}
}
