package configs

import (
	"os"
	"strings"
	"testing"
)

// TestLoadAuthorizationServerSecrets resolves the authorization server's
// login app and key from the environment, as the README's recipe and
// examples/github-login write them.
func TestLoadAuthorizationServerSecrets(t *testing.T) {
	src := `server:
  public_url: https://mcp.example.com
auth:
  mode: authorization_server
  authorization_server:
    login:
      provider: github
      client_id: ${GITHUB_CLIENT_ID}
      client_secret: ${GITHUB_CLIENT_SECRET}
      allowed_users: ["583231"]
    encryption_key: ${API2MCP_ENCRYPTION_KEY}
upstreams:
  github:
    url: https://api.github.com
    auth: { type: user_token }
tools:
  - name: get_me
    upstream: github
    path: /user
`
	e := env{
		"GITHUB_CLIENT_ID":       "Ov23liExampleClientId",
		"GITHUB_CLIENT_SECRET":   "github-client-secret",
		"API2MCP_ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	}
	// API2MCP_ENCRYPTION_KEY has the prefix of the API2MCP_SERVER_*
	// overrides: as the file refers to it, it is not taken for a typo.
	cfg, err := load(t, src, e, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	as := cfg.Auth.AuthorizationServer
	if as.Login.ClientID != e["GITHUB_CLIENT_ID"] || as.Login.ClientSecret != e["GITHUB_CLIENT_SECRET"] || as.EncryptionKey != e["API2MCP_ENCRYPTION_KEY"] {
		t.Errorf("client_id %q, client_secret %q, encryption_key %q: not resolved from the environment", as.Login.ClientID, as.Login.ClientSecret, as.EncryptionKey)
	}
}

// TestReadmeAuthorizationServerRecipe keeps the README's recipe for the
// built-in authorization server true: its mcp.yaml loads as written, with
// the environment variables the recipe exports.
func TestReadmeAuthorizationServerRecipe(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## Built-in authorization server")
	if !ok {
		t.Fatal(`README.md has no "## Built-in authorization server" section`)
	}
	_, block, ok := strings.Cut(rest, "```yaml\n")
	if !ok {
		t.Fatal("the section has no ```yaml block")
	}
	block, _, _ = strings.Cut(block, "```")
	// The block is indented inside a list item: remove its first line's
	// indentation from every line.
	indent := block[:len(block)-len(strings.TrimLeft(block, " "))]
	var src strings.Builder
	for _, line := range strings.Split(block, "\n") {
		src.WriteString(strings.TrimPrefix(line, indent) + "\n")
	}
	e := env{
		"GITHUB_CLIENT_ID":       "Ov23liExampleClientId",
		"GITHUB_CLIENT_SECRET":   "github-client-secret",
		"API2MCP_ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	}
	cfg, err := load(t, src.String(), e, nil)
	if err != nil {
		t.Fatalf("the README's recipe does not load:\n%v\n%s", err, src.String())
	}
	if cfg.Auth.Mode != "authorization_server" || len(cfg.Tools) == 0 {
		t.Errorf("the recipe loads as mode %q with %d tools", cfg.Auth.Mode, len(cfg.Tools))
	}
}
