package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	petstoreConfig     = "testdata/petstore.yaml"
	fiveMistakesConfig = "../../configs/testdata/five_mistakes.yaml"
	// petstoreKey is the upstream secret of testdata/petstore.yaml.
	petstoreKey = "cli-test-s3cr3t"
)

// cleanEnv removes API2MCP_* variables (an override would change what the
// config loads as) and sets the petstore secret.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "API2MCP_") || name == "FIVE_MISTAKES_API_KEY" {
			t.Setenv(name, "") // restored after the test
			os.Unsetenv(name)
		}
	}
	t.Setenv("CLI_TEST_PETSTORE_KEY", petstoreKey)
}

// runCLI runs the CLI and returns its exit status, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestRunUsage(t *testing.T) {
	cleanEnv(t)
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantStdout string // a prefix
		wantStderr string // a substring
	}{
		"no arguments": {
			wantCode:   2,
			wantStderr: "Usage:\n  api2mcp serve",
		},
		"unknown command": {
			args:       []string{"servve"},
			wantCode:   2,
			wantStderr: `api2mcp: unknown command "servve"`,
		},
		"version": {
			args:       []string{"version"},
			wantStdout: "api2mcp ",
		},
		"--version": {
			args:       []string{"--version"},
			wantStdout: "api2mcp ",
		},
		"help": {
			args:       []string{"help"},
			wantStdout: "api2mcp serves HTTP APIs as MCP tools",
		},
		"unknown flag": {
			args:       []string{"validate", "--nope"},
			wantCode:   2,
			wantStderr: "flag provided but not defined: -nope",
		},
		"unexpected argument": {
			args:       []string{"validate", "-c", petstoreConfig, "extra"},
			wantCode:   2,
			wantStderr: `api2mcp validate: unexpected argument "extra"`,
		},
		"call without a tool": {
			args:       []string{"call", "-c", petstoreConfig},
			wantCode:   2,
			wantStderr: "api2mcp call: name exactly one tool",
		},
		"call with two tools": {
			args:       []string{"call", "-c", petstoreConfig, "get_pet", "find_pets"},
			wantCode:   2,
			wantStderr: "api2mcp call: name exactly one tool",
		},
		"bad log level": {
			args:       []string{"validate", "-c", petstoreConfig, "--log-level", "loud"},
			wantCode:   2,
			wantStderr: `--log-level: "loud" is not debug, info, warn or error`,
		},
		"missing config": {
			args:       []string{"validate", "-c", "testdata/missing.yaml"},
			wantCode:   1,
			wantStderr: "testdata/missing.yaml: 1 problem:\n- reading config: open testdata/missing.yaml: no such file or directory\n",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d (stderr: %s)", code, tt.wantCode, stderr)
			}
			if !strings.HasPrefix(stdout, tt.wantStdout) {
				t.Errorf("stdout = %q, want it to start with %q", stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cleanEnv(t)
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string // lines
	}{
		"good config": {
			args:       []string{"validate", "-c", petstoreConfig},
			wantStdout: "testdata/petstore.yaml: ok: 2 tools, 1 upstream\n",
		},
		"long flag after the command": {
			args:       []string{"validate", "--config=" + petstoreConfig},
			wantStdout: "testdata/petstore.yaml: ok: 2 tools, 1 upstream\n",
		},
		"five mistakes": {
			args:     []string{"validate", "-c", fiveMistakesConfig},
			wantCode: 1,
			wantStderr: []string{
				fiveMistakesConfig + ": 5 problems:",
				"- tool: unknown key",
				"- upstreams.petstore.headers.X-Api-Key: environment variable FIVE_MISTAKES_API_KEY is not set",
				`- server.listen: "localhost" is not host:port: address localhost: missing port in address`,
				`- tools[0] "get_pet": path: parameter "petId" is not in input`,
				`- tools[1] "find_pets": query.status: unknown argument "staus" (not in input.properties) (line 1, column 6)`,
				"     | args.staus",
				"     | .....^",
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d", code, tt.wantCode)
			}
			if stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", stdout, tt.wantStdout)
			}
			var lines []string
			if stderr != "" {
				lines = strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			}
			if diff := cmp.Diff(tt.wantStderr, lines); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTools(t *testing.T) {
	cleanEnv(t)
	code, stdout, stderr := runCLI(t, "tools", "-c", petstoreConfig)
	if code != 0 {
		t.Fatalf("exit status = %d, want 0 (stderr: %s)", code, stderr)
	}
	var got struct {
		Tools []struct {
			Name        string         `json:"name"`
			Description string         `json:"description"`
			InputSchema map[string]any `json:"inputSchema"`
			Annotations struct {
				ReadOnlyHint bool `json:"readOnlyHint"`
			} `json:"annotations"`
		} `json:"tools"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	var names []string
	schemas := map[string]map[string]any{}
	for _, tool := range got.Tools {
		names = append(names, tool.Name)
		schemas[tool.Name] = tool.InputSchema
		if !tool.Annotations.ReadOnlyHint {
			t.Errorf("tool %s: readOnlyHint = false, want true for a GET", tool.Name)
		}
	}
	if diff := cmp.Diff([]string{"find_pets", "get_pet"}, names); diff != "" {
		t.Errorf("tool names (-want +got):\n%s", diff)
	}
	wantSchema := map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"properties": map[string]any{
			"id": map[string]any{"type": "integer", "minimum": 1.0},
		},
		"required": []any{"id"},
	}
	if diff := cmp.Diff(wantSchema, schemas["get_pet"]); diff != "" {
		t.Errorf("get_pet inputSchema (-want +got):\n%s", diff)
	}
	if strings.Contains(stdout, petstoreKey) {
		t.Errorf("tools output contains the upstream secret:\n%s", stdout)
	}
}

// upstreamRequest is what the fake petstore saw.
type upstreamRequest struct {
	Method, Path, Query, APIKey string
}

// fakePetstore starts a petstore on 127.0.0.1 and writes a copy of
// testdata/petstore.yaml that points at it. It returns the config path and
// the requests the petstore received.
func fakePetstore(t *testing.T) (string, func() []upstreamRequest) {
	t.Helper()
	var mu sync.Mutex
	var seen []upstreamRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, upstreamRequest{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("X-Api-Key")})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/pets/7":
			w.Write([]byte(`{"id": 7, "name": "Rex", "status": "available"}`))
		case "/v1/pets/13":
			// A careless upstream that echoes the credential it got.
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error": "key ` + r.Header.Get("X-Api-Key") + ` may not read pet 13"}`))
		case "/v1/pets":
			w.Write([]byte(`[{"id": 7, "name": "Rex"}]`))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error": "pet not found"}`))
		}
	}))
	t.Cleanup(srv.Close)
	src, err := os.ReadFile(petstoreConfig)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mcp.yaml")
	src = bytes.ReplaceAll(src, []byte("http://petstore.invalid"), []byte(srv.URL))
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, func() []upstreamRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]upstreamRequest(nil), seen...)
	}
}

type content struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// callResult is the CallToolResult JSON that `call` prints.
type callResult struct {
	Content           []content      `json:"content"`
	StructuredContent map[string]any `json:"structuredContent"`
	IsError           bool           `json:"isError"`
}

func TestCall(t *testing.T) {
	cleanEnv(t)
	config, _ := fakePetstore(t)
	tests := map[string]struct {
		args           []string
		wantCode       int
		wantIsError    bool
		wantText       string // contained in the text content
		wantStructured map[string]any
	}{
		"JSON object": {
			args:           []string{"call", "-c", config, "--args", `{"id":7}`, "get_pet"},
			wantText:       `{"id":7,"name":"Rex","status":"available"}`,
			wantStructured: map[string]any{"id": 7.0, "name": "Rex", "status": "available"},
		},
		"flags after the tool name": {
			args:           []string{"call", "get_pet", "-c", config, "--args", `{"id":7}`},
			wantText:       `{"id":7,"name":"Rex","status":"available"}`,
			wantStructured: map[string]any{"id": 7.0, "name": "Rex", "status": "available"},
		},
		"JSON array, no --args": {
			args:           []string{"call", "-c", config, "find_pets"},
			wantText:       `[{"id":7,"name":"Rex"}]`,
			wantStructured: map[string]any{"result": []any{map[string]any{"id": 7.0, "name": "Rex"}}},
		},
		"upstream 404": {
			args:        []string{"call", "-c", config, "get_pet", "--args", `{"id":404}`},
			wantCode:    1,
			wantIsError: true,
			wantText:    `upstream returned HTTP 404 Not Found: {"error":"pet not found"}`,
		},
		"bad arguments": {
			args:        []string{"call", "-c", config, "get_pet", "--args", `{"id":0,"name":"x"}`},
			wantCode:    1,
			wantIsError: true,
			wantText:    "invalid arguments:\n- /id: minimum: got 0, want 1\n- /name: not allowed (no such argument)",
		},
		"upstream echoes the secret": {
			args:        []string{"call", "-c", config, "get_pet", "--args", `{"id":13}`},
			wantCode:    1,
			wantIsError: true,
			wantText:    `upstream returned HTTP 403 Forbidden: {"error":"key [redacted] may not read pet 13"}`,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d (stderr: %s)", code, tt.wantCode, stderr)
			}
			var got callResult
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
			}
			if got.IsError != tt.wantIsError {
				t.Errorf("isError = %v, want %v", got.IsError, tt.wantIsError)
			}
			if len(got.Content) != 1 || got.Content[0].Type != "text" || !strings.Contains(got.Content[0].Text, tt.wantText) {
				t.Errorf("content = %+v, want one text containing %q", got.Content, tt.wantText)
			}
			if diff := cmp.Diff(tt.wantStructured, got.StructuredContent); diff != "" {
				t.Errorf("structuredContent (-want +got):\n%s", diff)
			}
			if strings.Contains(stdout+stderr, petstoreKey) {
				t.Errorf("output contains the upstream secret:\nstdout: %s\nstderr: %s", stdout, stderr)
			}
		})
	}
}

// The upstream gets the mapped request with the configured credential.
func TestCallUpstreamRequest(t *testing.T) {
	cleanEnv(t)
	config, seen := fakePetstore(t)
	calls := [][]string{
		{"call", "-c", config, "get_pet", "--args", `{"id":7}`},
		{"call", "-c", config, "find_pets", "--args", `{"tags":["a b","c"]}`},
	}
	for _, args := range calls {
		if code, _, stderr := runCLI(t, args...); code != 0 {
			t.Fatalf("%q: exit status %d (stderr: %s)", args, code, stderr)
		}
	}
	want := []upstreamRequest{
		{Method: "GET", Path: "/v1/pets/7", APIKey: petstoreKey},
		{Method: "GET", Path: "/v1/pets", Query: "status=available&tag=a+b&tag=c", APIKey: petstoreKey},
	}
	if diff := cmp.Diff(want, seen()); diff != "" {
		t.Errorf("upstream requests (-want +got):\n%s", diff)
	}
}

func TestCallErrors(t *testing.T) {
	cleanEnv(t)
	config, seen := fakePetstore(t)
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantStderr string
	}{
		"unknown tool": {
			args:       []string{"call", "-c", config, "get_pets"},
			wantCode:   1,
			wantStderr: `unknown tool "get_pets"`,
		},
		"--args not JSON": {
			args:       []string{"call", "-c", config, "get_pet", "--args", `{id: 7}`},
			wantCode:   2,
			wantStderr: "api2mcp call: --args is not valid JSON\n",
		},
		"--args not JSON is a usage error before the config is read": {
			args:       []string{"call", "-c", "testdata/no-such-file.yaml", "get_pet", "--args", `{`},
			wantCode:   2,
			wantStderr: "api2mcp call: --args is not valid JSON\n",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d (stderr: %s)", code, tt.wantCode, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
	if got := seen(); len(got) != 0 {
		t.Errorf("upstream received %v, want no request", got)
	}
}
