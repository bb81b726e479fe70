// Package e2e runs the real api2mcp binary against a fake upstream and drives
// it with the official MCP TypeScript SDK client (client.mjs) over every
// transport: Streamable HTTP (stateless and stateful), legacy HTTP+SSE and
// stdio; and behind the OAuth front door (auth_client.mjs, with the SDK's
// OAuth support and mcp-remote) against two real issuers, a Go test
// authorization server and the npm oauth2-mock-server (mock_issuer.mjs); and
// as its own authorization server (as_test.go), with oauth2-mock-server as
// the login provider (login_provider.mjs), a scripted browser (browser.mjs)
// and the SDK client and mcp-remote logging in through it (as_client.mjs).
//
// It needs Node.js and the client's dependencies:
//
//	npm ci --prefix e2e
//	go test -race ./e2e/
//
// Without them the tests skip, unless CI is set, where they fail.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Timeouts. client.mjs bounds each request to 15s and its whole run to 60s.
const (
	startTimeout  = 15 * time.Second // until serve logs its address
	clientTimeout = 90 * time.Second // one run of client.mjs
	stopTimeout   = 10 * time.Second // from SIGTERM until we kill
)

// secret is the upstream API key. It reaches the binary only through its
// environment (E2E_API_KEY, referenced as ${E2E_API_KEY} in mcp.yaml) and
// must never come back out: not in a result, not in a log.
const secret = "e2e-secret-Qm7vX2pL9zK4wT"

// binary is the api2mcp binary built by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "api2mcp-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "api2mcp")
	build := exec.Command("go", "build", "-o", binary, "../cmd/api2mcp")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building api2mcp:", err)
		return 1
	}
	return m.Run()
}

func TestTransports(t *testing.T) {
	requireNode(t)
	tests := []struct {
		name        string
		transport   string   // first argument of client.mjs
		path        string   // HTTP path of the MCP endpoint
		env         []string // extra environment of api2mcp
		wantSession bool     // Mcp-Session-Id expected
	}{
		{name: "streamable_http", transport: "http", path: "/mcp"},
		{name: "streamable_http_stateful", transport: "http", path: "/mcp", env: []string{"API2MCP_SERVER_STATEFUL=true"}, wantSession: true},
		{name: "sse", transport: "sse", path: "/sse"},
		{name: "stdio", transport: "stdio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := startUpstream(t)
			config := writeConfig(t, up.URL)

			var rep *report
			var raw []byte
			var serverLog string
			if tt.transport == "stdio" {
				// client.mjs spawns api2mcp, whose stderr is the client's.
				rep, raw, serverLog = runClient(t, environ(tt.env...), "stdio", binary, config)
			} else {
				srv := startServe(t, config, tt.env...)
				rep, raw, _ = runClient(t, environ(), tt.transport, "http://"+srv.addr+tt.path)
				if err := srv.stop(); err != nil {
					t.Errorf("api2mcp serve after SIGTERM: %v; want exit status 0", err)
				}
				serverLog = srv.log.String()
			}

			checkReport(t, rep, tt.wantSession)
			if !rep.Cancelled {
				t.Error("the client's slow call was not cancelled")
			}
			select {
			case <-up.slowCancelled:
			case <-time.After(5 * time.Second):
				t.Error("notifications/cancelled did not cancel the upstream request")
			}
			want := []upstreamRequest{
				{Method: "GET", Path: "/pets/1", APIKey: secret},
				{Method: "GET", Path: "/pets", Query: "status=pending", APIKey: secret},
				{Method: "GET", Path: "/pets/99", APIKey: secret},
				{Method: "GET", Path: "/pets/2", APIKey: secret}, // once: the second call is a cache hit
				{Method: "GET", Path: "/slow", APIKey: secret},
			}
			if diff := cmp.Diff(want, up.requests()); diff != "" {
				t.Errorf("upstream requests (-want +got):\n%s", diff)
			}
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("the upstream API key appears in the client's report:\n%s", raw)
			}
			if !strings.Contains(serverLog, "tool_call") {
				t.Errorf("the server log has no tool_call line:\n%s", serverLog)
			}
			if strings.Contains(serverLog, "level=ERROR") || strings.Contains(serverLog, "panic:") {
				t.Errorf("the server log has errors:\n%s", serverLog)
			}
			if strings.Contains(serverLog, secret) {
				t.Errorf("the upstream API key appears in the server log:\n%s", serverLog)
			}
		})
	}
}

// checkReport checks what the client saw. Calls are named in client.mjs.
func checkReport(t *testing.T, rep *report, wantSession bool) {
	t.Helper()
	if diff := cmp.Diff(implementation{Name: "e2e-petstore", Version: "1.2.3-e2e"}, rep.Server); diff != "" {
		t.Errorf("serverInfo (-want +got):\n%s", diff)
	}
	if rep.Session != wantSession {
		t.Errorf("Streamable HTTP session: got %v, want %v", rep.Session, wantSession)
	}
	if diff := cmp.Diff([]string{"find_pets", "get_pet", "get_pet_cached", "slow"}, slices.Sorted(slices.Values(rep.Tools))); diff != "" {
		t.Errorf("tools/list names (-want +got):\n%s", diff)
	}

	// Successful calls: the upstream JSON as text and as structured content
	// (an array is wrapped in {"result": …}).
	rex, pending := asJSON(t, pets[0]), asJSON(t, []pet{pets[1], pets[3]})
	successes := []struct {
		call string
		want shaped
	}{
		{call: "ok", want: shaped{Texts: []any{rex}, Structured: rex}},
		{call: "list", want: shaped{Texts: []any{pending}, Structured: map[string]any{"result": pending}}},
		{call: "cached_1", want: shaped{Texts: []any{asJSON(t, pets[1])}, Structured: asJSON(t, pets[1])}},
		{call: "cached_2", want: shaped{Texts: []any{asJSON(t, pets[1])}, Structured: asJSON(t, pets[1])}},
	}
	for _, s := range successes {
		got := rep.result(t, s.call)
		if got == nil {
			continue
		}
		if diff := cmp.Diff(s.want, got.shape(t)); diff != "" {
			t.Errorf("call %q: result (-want +got):\n%s", s.call, diff)
		}
	}

	// Tool errors are isError results for the model, with a useful message.
	toolErrors := []struct {
		call    string
		mention []string
	}{
		{call: "not_found", mention: []string{"404", "no pet with id 99"}},
		// Both problems: the wrong type of id and the extra argument.
		{call: "bad_args", mention: []string{"/id", "integer", "colour"}},
	}
	for _, e := range toolErrors {
		got := rep.result(t, e.call)
		if got == nil {
			continue
		}
		text := got.text()
		if !got.IsError {
			t.Errorf("call %q: isError is false, want true; text: %q", e.call, text)
		}
		for _, m := range e.mention {
			if !strings.Contains(text, m) {
				t.Errorf("call %q: text %q does not mention %q", e.call, text, m)
			}
		}
	}

	// An unknown tool is a protocol error: JSON-RPC -32602 (invalid params),
	// as the MCP specification's tools page shows, not an isError result.
	switch c := rep.Calls["unknown_tool"]; {
	case c.Error == nil:
		t.Errorf("call %q: got result %+v, want a JSON-RPC error", "unknown_tool", c.Result)
	case c.Error.Code != -32602 || !strings.Contains(c.Error.Message, "no_such_tool"):
		t.Errorf("call %q: got error %+v, want code -32602 naming the tool", "unknown_tool", *c.Error)
	}
}

// report is what client.mjs prints.
type report struct {
	Server    implementation         `json:"server"`
	Session   bool                   `json:"session"`
	Tools     []string               `json:"tools"`
	Calls     map[string]callOutcome `json:"calls"`
	Cancelled bool                   `json:"cancelled"` // the slow call was aborted
}

type implementation struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// callOutcome holds either the tools/call result or the JSON-RPC error.
type callOutcome struct {
	Result *toolResult `json:"result"`
	Error  *rpcError   `json:"error"`
}

type toolResult struct {
	Content           []content `json:"content"`
	StructuredContent any       `json:"structuredContent"`
	IsError           bool      `json:"isError"`
}

type content struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// result returns a call's result, or nil after reporting that there is none.
func (r *report) result(t *testing.T, call string) *toolResult {
	t.Helper()
	c, ok := r.Calls[call]
	switch {
	case !ok:
		t.Errorf("call %q: missing from the report", call)
	case c.Error != nil:
		t.Errorf("call %q: got JSON-RPC error %+v, want a result", call, *c.Error)
	case c.Result == nil:
		t.Errorf("call %q: neither result nor error", call)
	}
	return c.Result
}

// text joins the result's text content.
func (r *toolResult) text() string {
	var texts []string
	for _, c := range r.Content {
		texts = append(texts, c.Text)
	}
	return strings.Join(texts, "\n")
}

// shaped is a result with its text content parsed as JSON.
type shaped struct {
	IsError    bool
	Texts      []any
	Structured any
}

func (r *toolResult) shape(t *testing.T) shaped {
	t.Helper()
	s := shaped{IsError: r.IsError, Structured: r.StructuredContent}
	for _, c := range r.Content {
		var v any
		if c.Type != "text" || json.Unmarshal([]byte(c.Text), &v) != nil {
			v = c // not JSON text: compared as is, so the diff shows it
		}
		s.Texts = append(s.Texts, v)
	}
	return s
}

// asJSON returns v as encoding/json decodes it into an any.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// requireNode skips the test when Node.js or the client's dependencies are
// missing, except under CI, where an e2e test must not silently skip.
func requireNode(t *testing.T) {
	t.Helper()
	problem := ""
	if _, err := exec.LookPath("node"); err != nil {
		problem = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join("node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		problem = "e2e/node_modules is missing (run: npm ci --prefix e2e)"
	}
	if problem == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and %s: the end-to-end tests cannot run", problem)
	}
	t.Skipf("skipping the end-to-end tests: %s", problem)
}

// environ is the environment of api2mcp and client.mjs: ours without any
// API2MCP_ override, with the upstream secret and extra.
func environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "API2MCP_") && !strings.HasPrefix(kv, "E2E_API_KEY=") {
			env = append(env, kv)
		}
	}
	env = append(env, "E2E_API_KEY="+secret)
	return append(env, extra...)
}

// runClient runs client.mjs with args and returns its parsed report, the
// report as printed, and its stderr (which holds api2mcp's log for stdio).
func runClient(t *testing.T, env []string, args ...string) (*report, []byte, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"client.mjs"}, args...)...)
	cmd.Env = env
	cmd.WaitDelay = stopTimeout
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node client.mjs %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("parsing the report of client.mjs: %v\nstdout:\n%s", err, stdout.String())
	}
	return &rep, stdout.Bytes(), stderr.String()
}

// writeConfig writes an mcp.yaml for the upstream at url and returns its path.
func writeConfig(t *testing.T, url string) string {
	t.Helper()
	config := `server:
  name: e2e-petstore
  version: 1.2.3-e2e
  shutdown_timeout: 5s

upstreams:
  petstore:
    url: ` + url + `
    timeout: 10s
    headers:
      X-Api-Key: ${E2E_API_KEY}

tools:
  - name: find_pets
    description: Find pets by status.
    upstream: petstore
    path: /pets
    input:
      type: object
      properties:
        status: { type: string, enum: [available, pending, sold] }
      required: [status]
    query:
      status: args.status

  - name: get_pet
    description: Get one pet by its id.
    upstream: petstore
    path: /pets/{id}
    input:
      type: object
      properties:
        id: { type: integer, minimum: 1 }
      required: [id]

  - name: get_pet_cached
    description: Get one pet by its id, from the cache when asked recently.
    upstream: petstore
    path: /pets/{id}
    input:
      type: object
      properties:
        id: { type: integer, minimum: 1 }
      required: [id]
    cache: { ttl: 1h }

  - name: slow
    description: Never answers; the client cancels it.
    upstream: petstore
    path: /slow
`
	path := filepath.Join(t.TempDir(), "mcp.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveProcess is a running api2mcp serve.
type serveProcess struct {
	addr string
	log  *logBuffer
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // the exit error, once done is closed

	stopOnce sync.Once
}

// startServe starts api2mcp serve on a free loopback port and waits until it
// logs its address. The process is stopped when the test ends.
func startServe(t *testing.T, config string, env ...string) *serveProcess {
	t.Helper()
	return startServeOn(t, "127.0.0.1:0", config, env...)
}

// startServeOn is startServe on a given loopback address.
func startServeOn(t *testing.T, listen, config string, env ...string) *serveProcess {
	t.Helper()
	s := &serveProcess{log: newLogBuffer(), done: make(chan struct{})}
	s.cmd = exec.Command(binary, "serve", "-c", config, "--listen", listen, "--log-format", "text")
	s.cmd.Env = environ(env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.WaitDelay = stopTimeout
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting api2mcp serve: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { _ = s.stop() })

	select {
	case s.addr = <-s.log.addr:
	case <-s.done:
		t.Fatalf("api2mcp serve exited before serving: %v\nlog:\n%s", s.err, s.log)
	case <-time.After(startTimeout):
		t.Fatalf("api2mcp serve did not log its address within %s\nlog:\n%s", startTimeout, s.log)
	}
	return s
}

// stop sends SIGTERM, waits for the exit (killing the process after
// stopTimeout) and returns the exit error. Later calls return the same.
func (s *serveProcess) stop() error {
	s.stopOnce.Do(func() {
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			_ = s.cmd.Process.Kill()
		}
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.done
			s.err = fmt.Errorf("killed: no exit within %s of SIGTERM (%v)", stopTimeout, s.err)
		}
	})
	<-s.done
	return s.err
}

// servingRE matches serve's start line in the text log format.
var servingRE = regexp.MustCompile(`msg=serving addr=(127\.0\.0\.1:[0-9]+)`)

// logBuffer collects a process's output and announces the address of the
// first "serving" line on addr.
type logBuffer struct {
	addr chan string

	mu    sync.Mutex
	buf   bytes.Buffer
	found bool
}

func newLogBuffer() *logBuffer { return &logBuffer{addr: make(chan string, 1)} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.found {
		if m := servingRE.FindSubmatch(l.buf.Bytes()); m != nil {
			l.found = true
			l.addr <- string(m[1])
		}
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// pet is the upstream's resource.
type pet struct {
	ID     int      `json:"id"`
	Name   string   `json:"name"`
	Status string   `json:"status"`
	Tags   []string `json:"tags"`
}

var pets = []pet{
	{ID: 1, Name: "Rex", Status: "available", Tags: []string{"dog"}},
	{ID: 2, Name: "Tom", Status: "pending", Tags: []string{"cat"}},
	{ID: 3, Name: "Polly", Status: "sold", Tags: []string{"bird"}},
	{ID: 4, Name: "Fido", Status: "pending", Tags: []string{"dog", "old"}},
}

// upstreamRequest is what the upstream saw of one request.
type upstreamRequest struct {
	Method string
	Path   string
	Query  string
	APIKey string // the X-Api-Key header
}

// upstream is a fake petstore API that records every request.
type upstream struct {
	URL string
	// slowCancelled is closed when the request to /slow is cancelled.
	slowCancelled chan struct{}

	mu   sync.Mutex
	reqs []upstreamRequest
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{slowCancelled: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(u.slowCancelled)
		case <-time.After(30 * time.Second):
		}
	})
	mux.HandleFunc("GET /pets", func(w http.ResponseWriter, r *http.Request) {
		status := r.URL.Query().Get("status")
		out := []pet{}
		for _, p := range pets {
			if status == "" || p.Status == status {
				out = append(out, p)
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /pets/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		for _, p := range pets {
			if p.ID == id {
				writeJSON(w, http.StatusOK, p)
				return
			}
		}
		// A careless API that echoes the caller's key in its error body:
		// api2mcp must redact it before the body reaches the client.
		writeJSON(w, http.StatusNotFound, map[string]string{
			"error":   "no pet with id " + r.PathValue("id"),
			"api_key": r.Header.Get("X-Api-Key"),
		})
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, upstreamRequest{
			Method: r.Method,
			Path:   r.URL.Path,
			Query:  r.URL.RawQuery,
			APIKey: r.Header.Get("X-Api-Key"),
		})
		u.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

func (u *upstream) requests() []upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.reqs)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
