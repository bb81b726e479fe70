package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/api2mcp/api2mcp/authn/authntest"
)

// authReport is what auth_client.mjs prints.
type authReport struct {
	Unauthorized struct {
		Connected        bool           `json:"connected"`
		Error            map[string]any `json:"error"`
		ResourceMetadata map[string]any `json:"resource_metadata"`
		AuthServer       string         `json:"authorization_server"`
		Redirect         string         `json:"redirect"`
	} `json:"unauthorized"`
	Tools       []string    `json:"tools"`
	Call        *toolResult `json:"call"`
	Denied      *toolResult `json:"denied"`
	RemoteTools []string    `json:"remote_tools"`
	RemoteCall  *toolResult `json:"remote_call"`
	StepUp      struct {
		Result   *toolResult    `json:"result"`
		Error    map[string]any `json:"error"`
		Redirect string         `json:"redirect"`
	} `json:"step_up"`
}

// TestOAuth runs the binary as an OAuth resource server and drives it with
// the TypeScript SDK's client and its OAuth support, and through mcp-remote,
// against two real issuers: a Go test authorization server (real RS256 keys,
// JWKS, RFC 8414 metadata) and the npm oauth2-mock-server (OpenID Connect
// discovery).
func TestOAuth(t *testing.T) {
	requireNode(t)
	t.Run("go_issuer", func(t *testing.T) {
		t.Parallel()
		as := authntest.NewServer(t)
		key := as.NewKey(t, "RS256")
		as.Publish(key)
		addr := freeAddr(t)
		public := "http://" + addr
		runOAuth(t, addr, as.Issuer, as.Sign(t, key, as.Claims(public, "ada", "mcp pets:read")))
	})
	t.Run("oauth2_mock_server", func(t *testing.T) {
		t.Parallel()
		addr := freeAddr(t)
		issuer, token := startMockIssuer(t, "http://"+addr)
		runOAuth(t, addr, issuer, token)
	})
}

// startMockIssuer runs mock_issuer.mjs (oauth2-mock-server) and returns its
// issuer URL and an access token for audience with the scopes mcp and
// pets:read. It stops when the test ends.
func startMockIssuer(t *testing.T, audience string) (issuer, token string) {
	t.Helper()
	stdout, stderr := startNodeService(t, "mock_issuer.mjs", environ("AUDIENCE="+audience))
	line := make(chan []byte, 1)
	go func() {
		b, _ := bufio.NewReader(stdout).ReadBytes('\n')
		line <- b
	}()
	var out struct {
		Issuer string            `json:"issuer"`
		Tokens map[string]string `json:"tokens"`
	}
	select {
	case b := <-line:
		if err := json.Unmarshal(b, &out); err != nil || out.Issuer == "" {
			t.Fatalf("mock_issuer.mjs printed %q (%v); stderr:\n%s", b, err, stderr.String())
		}
	case <-time.After(startTimeout):
		t.Fatalf("mock_issuer.mjs did not start within %s", startTimeout)
	}
	return out.Issuer, out.Tokens["reader"]
}

// runOAuth serves an oauth config on addr for issuer, and runs
// auth_client.mjs with token (scopes mcp and pets:read).
func runOAuth(t *testing.T, addr, issuer, token string) {
	up := startUpstream(t)
	public := "http://" + addr
	config := `server:
  name: e2e-petstore
  version: 1.2.3-e2e
  public_url: ` + public + `
auth:
  mode: oauth
  scopes: [mcp]
  oauth:
    issuer: ` + issuer + `
upstreams:
  petstore:
    url: ` + up.URL + `
    headers:
      X-Api-Key: ${E2E_API_KEY}
tools:
  - name: get_pet
    upstream: petstore
    path: /pets/{id}
    scopes: [pets:read]
    allow: 'args.id < 3 || claims.sub == "admin"'
    input:
      type: object
      properties:
        id: { type: integer, minimum: 1 }
      required: [id]
  - name: add_pet
    upstream: petstore
    method: POST
    path: /pets
    scopes: [pets:write]
    input:
      type: object
      properties:
        name: { type: string }
`
	path := filepath.Join(t.TempDir(), "mcp.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServeOn(t, addr, path)

	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "auth_client.mjs", public+"/mcp")
	cmd.Env = environ("E2E_TOKEN=" + token)
	cmd.WaitDelay = stopTimeout
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node auth_client.mjs: %v\n%s\nserver log:\n%s", err, stderr, srv.log)
	}
	var rep authReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("parsing the report: %v\n%s", err, out)
	}
	// 1. Without a token: 401, and the SDK found its way to the issuer.
	un := rep.Unauthorized
	if un.Connected {
		t.Fatalf("the client connected without a token")
	}
	if un.Error["name"] != "UnauthorizedError" {
		t.Errorf("error without a token = %v, want UnauthorizedError", un.Error)
	}
	if un.ResourceMetadata["resource"] != public || !cmp.Equal(un.ResourceMetadata["authorization_servers"], []any{issuer}) {
		t.Errorf("protected-resource metadata the SDK found = %v", un.ResourceMetadata)
	}
	if strings.TrimSuffix(un.AuthServer, "/") != issuer {
		t.Errorf("authorization server = %q, want %q", un.AuthServer, issuer)
	}
	redirect, err := url.Parse(un.Redirect)
	if err != nil || !strings.HasPrefix(un.Redirect, issuer+"/authorize?") {
		t.Fatalf("authorization the SDK would start = %q, want %s/authorize?…", un.Redirect, issuer)
	}
	q := redirect.Query()
	if q.Get("scope") != "mcp" || q.Get("code_challenge_method") != "S256" || strings.TrimSuffix(q.Get("resource"), "/") != public {
		t.Errorf("authorization request scope=%q code_challenge_method=%q resource=%q; want mcp, S256, %s", q.Get("scope"), q.Get("code_challenge_method"), q.Get("resource"), public)
	}

	// 2. With the token: the tools it may use, and calls.
	if diff := cmp.Diff([]string{"get_pet"}, rep.Tools); diff != "" {
		t.Errorf("tools/list with pets:read (-want +got):\n%s", diff)
	}
	if rep.Call == nil || rep.Call.IsError || !strings.Contains(rep.Call.text(), "Rex") {
		t.Errorf("get_pet with the token = %+v, want Rex", rep.Call)
	}
	if rep.Denied == nil || !rep.Denied.IsError || rep.Denied.text() != "get_pet: access denied" {
		t.Errorf("get_pet denied by allow = %+v, want isError \"get_pet: access denied\"", rep.Denied)
	}

	// 3. Without pets:write: the step-up challenge, which the SDK follows.
	if rep.StepUp.Result != nil {
		t.Fatalf("add_pet without pets:write returned a result: %+v", rep.StepUp.Result)
	}
	step, err := url.Parse(rep.StepUp.Redirect)
	if err != nil || step.Query().Get("scope") != "mcp pets:write" {
		t.Errorf("step-up authorization = %q (error %v), want scope \"mcp pets:write\"", rep.StepUp.Redirect, rep.StepUp.Error)
	}

	// 4. mcp-remote with the token in a header.
	if diff := cmp.Diff([]string{"get_pet"}, rep.RemoteTools); diff != "" {
		t.Errorf("tools/list through mcp-remote (-want +got):\n%s", diff)
	}
	if rep.RemoteCall == nil || rep.RemoteCall.IsError || !strings.Contains(rep.RemoteCall.text(), "Tom") {
		t.Errorf("get_pet through mcp-remote = %+v, want Tom", rep.RemoteCall)
	}

	wantUp := []upstreamRequest{{Method: "GET", Path: "/pets/1", APIKey: secret}, {Method: "GET", Path: "/pets/2", APIKey: secret}}
	if diff := cmp.Diff(wantUp, up.requests()); diff != "" {
		t.Errorf("upstream requests (-want +got):\n%s", diff)
	}
	if err := srv.stop(); err != nil {
		t.Errorf("api2mcp serve after SIGTERM: %v", err)
	}
	log := srv.log.String()
	for _, part := range strings.Split(token, ".") {
		if strings.Contains(log, part) {
			t.Errorf("the token appears in the server log:\n%s", log)
		}
	}
	if !strings.Contains(log, "auth_rejected") || !strings.Contains(log, "reason=missing_token") || !strings.Contains(log, "reason=insufficient_scope") {
		t.Errorf("the server log lacks the rejections:\n%s", log)
	}
	if strings.Contains(log, "level=ERROR") || strings.Contains(log, "panic:") {
		t.Errorf("the server log has errors:\n%s", log)
	}
}

// freeAddr returns a 127.0.0.1 address where nothing listens now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startNodeService runs a node script that serves until its stdin closes,
// stopping it (killed if it lingers) when the test ends; it returns the
// script's stdout and the buffer its stderr goes to.
func startNodeService(t *testing.T, script string, env []string) (io.Reader, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command("node", script)
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	cmd.WaitDelay = stopTimeout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(stopTimeout):
			cmd.Process.Kill()
			<-done
		}
	})
	return stdout, stderr
}
