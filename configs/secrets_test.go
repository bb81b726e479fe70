package configs

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadSecretsResolved(t *testing.T) {
	e := env{
		"API_KEY":  "k-123456",
		"API_HOST": "api.internal:8443",
		"TOKEN":    "t0k3n-abc",
	}
	files := map[string]string{
		"/run/secrets/token":     "file-token\n",
		"/run/secrets/crlf":      "crlf-token\r\n",
		"/run/secrets/multiline": "line1\nline2\n\n",
	}
	tests := map[string]struct {
		url        string
		headers    string // YAML lines under headers:, each indented six spaces
		wantURL    string
		wantHeader http.Header
	}{
		"variable in a header": {
			url:        "http://api.internal",
			headers:    "      X-Api-Key: ${API_KEY}\n",
			wantURL:    "http://api.internal",
			wantHeader: http.Header{"X-Api-Key": {"k-123456"}},
		},
		"variable inside text": {
			url:        "http://api.internal",
			headers:    "      Authorization: Bearer ${TOKEN}\n",
			wantURL:    "http://api.internal",
			wantHeader: http.Header{"Authorization": {"Bearer t0k3n-abc"}},
		},
		"variables in the url": {
			url:        "https://${API_HOST}/v1?key=${API_KEY}",
			wantURL:    "https://api.internal:8443/v1?key=k-123456",
			wantHeader: http.Header{},
		},
		"file with a trailing newline": {
			url:        "http://api.internal",
			headers:    "      X-Token: ${file:/run/secrets/token}\n",
			wantURL:    "http://api.internal",
			wantHeader: http.Header{"X-Token": {"file-token"}},
		},
		"file with a trailing CRLF": {
			url:        "http://api.internal",
			headers:    "      X-Token: ${file:/run/secrets/crlf}\n",
			wantURL:    "http://api.internal",
			wantHeader: http.Header{"X-Token": {"crlf-token"}},
		},
		"$$ is a literal dollar": {
			url:        "http://api.internal",
			headers:    "      X-Price: \"$$5 and $${API_KEY}\"\n",
			wantURL:    "http://api.internal",
			wantHeader: http.Header{"X-Price": {"$5 and ${API_KEY}"}},
		},
		"lone dollar is kept": {
			url:        "http://api.internal",
			headers:    "      X-Price: \"5$ or $API_KEY\"\n",
			wantURL:    "http://api.internal",
			wantHeader: http.Header{"X-Price": {"5$ or $API_KEY"}},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			src := "upstreams:\n  api:\n    url: " + tt.url + "\n"
			if tt.headers != "" {
				src += "    headers:\n" + tt.headers
			}
			cfg, err := load(t, src, e, files)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			up := cfg.Upstreams["api"]
			if got := up.URL.String(); got != tt.wantURL {
				t.Errorf("URL = %q, want %q", got, tt.wantURL)
			}
			if diff := cmp.Diff(tt.wantHeader, up.Header); diff != "" {
				t.Errorf("Header (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadSecretErrors(t *testing.T) {
	e := env{"API_KEY": "k-123456"}
	tests := map[string]struct {
		src  string
		want []string
	}{
		"missing variable": {
			src:  validUpstreams + "    headers: {X-Api-Key: '${PETSTORE_KEY}'}\n",
			want: []string{"upstreams.api.headers.X-Api-Key: environment variable PETSTORE_KEY is not set"},
		},
		"missing variable in the url": {
			src:  "upstreams:\n  api:\n    url: http://${API_HOSTNAME}/v1\n",
			want: []string{"upstreams.api.url: environment variable API_HOSTNAME is not set"},
		},
		"two missing variables": {
			src: validUpstreams + "    headers: {X-A: '${A_KEY}', X-B: '${B_KEY}'}\n",
			want: []string{
				"upstreams.api.headers.X-A: environment variable A_KEY is not set",
				"upstreams.api.headers.X-B: environment variable B_KEY is not set",
			},
		},
		"missing file": {
			src:  validUpstreams + "    headers: {X-Token: '${file:/run/secrets/nope}'}\n",
			want: []string{"upstreams.api.headers.X-Token: reading secret file /run/secrets/nope: file does not exist"},
		},
		"file without a path": {
			src:  validUpstreams + "    headers: {X-Token: '${file:}'}\n",
			want: []string{"upstreams.api.headers.X-Token: ${file:} needs a path"},
		},
		"bad variable name": {
			src:  validUpstreams + "    headers: {X-Token: '${1KEY}'}\n",
			want: []string{"upstreams.api.headers.X-Token: ${1KEY} is not a valid reference (want ${NAME} or ${file:/path})"},
		},
		"placeholder in a tool description": {
			src: validUpstreams + `
tools:
  - name: t
    upstream: api
    description: uses key ${API_KEY}
`,
			want: []string{"tools[0] \"t\": description: ${…} is resolved only in the upstreams section, redis.url and auth credentials (secrets never reach tools)"},
		},
		"placeholder in a query expression": {
			src: validUpstreams + `
tools:
  - name: t
    upstream: api
    query: {key: '"${API_KEY}"'}
`,
			want: []string{"tools[0] \"t\": query.key: ${…} is resolved only in the upstreams section, redis.url and auth credentials (secrets never reach tools)"},
		},
		"placeholder in a nested input schema": {
			src: validUpstreams + `
tools:
  - name: t
    upstream: api
    input:
      properties:
        key: {type: string, default: '${API_KEY}'}
`,
			want: []string{"tools[0] \"t\": input.properties.key.default: ${…} is resolved only in the upstreams section, redis.url and auth credentials (secrets never reach tools)"},
		},
		"placeholder in the server section": {
			src:  "server:\n  instructions: ${API_KEY}\n" + validUpstreams,
			want: []string{"server.instructions: ${…} is resolved only in the upstreams section, redis.url and auth credentials (secrets never reach tools)"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := load(t, tt.src, e, nil)
			if cfg != nil {
				t.Errorf("Load returned a config")
			}
			if diff := cmp.Diff(tt.want, problems(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// A resolved secret must never be quoted by an error: load errors are
// printed by `api2mcp validate` and logged at startup.
func TestLoadErrorsNeverQuoteSecrets(t *testing.T) {
	const secret = "s3cr3t-VALUE"
	tests := map[string]struct {
		value string // the value of SECRET
		src   string
		want  []string
	}{
		"header value with CR LF": {
			value: secret + "\r\nX-Injected: 1",
			src:   validUpstreams + "    headers: {X-Api-Key: '${SECRET}'}\n",
			want:  []string{"upstreams.api.headers.X-Api-Key: value contains a control character"},
		},
		"url with a bad scheme": {
			value: "ftp://user:" + secret + "@files.internal",
			src:   "upstreams:\n  api:\n    url: ${SECRET}\n",
			want:  []string{"upstreams.api.url: scheme must be http or https"},
		},
		"url that does not parse": {
			value: "http://api.internal/%zz?key=" + secret,
			src:   "upstreams:\n  api:\n    url: ${SECRET}\n",
			want:  []string{"upstreams.api.url: not a valid URL"},
		},
		"url without a host": {
			value: "http:///v1?key=" + secret,
			src:   "upstreams:\n  api:\n    url: ${SECRET}\n",
			want:  []string{"upstreams.api.url: has no host"},
		},
		"url with a fragment": {
			value: "http://api.internal/v1#" + secret,
			src:   "upstreams:\n  api:\n    url: ${SECRET}\n",
			want:  []string{"upstreams.api.url: must not have a #fragment"},
		},
		"secret file that is a bad header value": {
			value: "unused",
			src:   validUpstreams + "    headers: {X-Api-Key: '${file:/run/secrets/key}'}\n",
			want:  []string{"upstreams.api.headers.X-Api-Key: value contains a control character"},
		},
	}
	files := map[string]string{"/run/secrets/key": secret + "\nsecond line\n"}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, tt.src, env{"SECRET": tt.value}, files)
			if diff := cmp.Diff(tt.want, problems(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
}

func TestConfigRedact(t *testing.T) {
	src := `
upstreams:
  api:
    url: http://api.internal/v1?key=${URL_KEY}
    headers:
      X-Api-Key: ${API_KEY}
      X-Short: ${SHORT}
      X-Token: ${file:/run/secrets/token}
`
	e := env{"API_KEY": "k-123456", "URL_KEY": "u-987654", "SHORT": "abc"}
	files := map[string]string{"/run/secrets/token": "file-token\n"}
	cfg, err := load(t, src, e, files)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := map[string]struct {
		in, want string
	}{
		"header secret": {
			in:   `upstream said: bad key "k-123456"`,
			want: `upstream said: bad key "[redacted]"`,
		},
		"url secret and file secret": {
			in:   "GET /v1?key=u-987654 with file-token",
			want: "GET /v1?key=[redacted] with [redacted]",
		},
		"repeated": {
			in:   "k-123456k-123456",
			want: "[redacted][redacted]",
		},
		"short values are not treated as secrets": {
			in:   "abc is too common to redact",
			want: "abc is too common to redact",
		},
		"nothing to redact": {
			in:   "all fine",
			want: "all fine",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := cfg.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	secrets := map[string]bool{}
	for _, s := range cfg.Secrets() {
		secrets[s] = true
	}
	if diff := cmp.Diff(map[string]bool{"k-123456": true, "u-987654": true, "file-token": true}, secrets); diff != "" {
		t.Errorf("Secrets (-want +got):\n%s", diff)
	}
}
