package examples

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/api2mcp/api2mcp/authn/authntest"
	"github.com/api2mcp/api2mcp/configs"
	"github.com/api2mcp/api2mcp/proxy"
)

// TestGitHubLogin serves github-login/mcp.yaml as written, with GitHub (its
// OAuth endpoints and its API) played by a test provider: a client
// registers, the user logs in through a browser with a cookie jar and
// approves, the client redeems the code, and get_me reaches the API with
// the user's own GitHub token.
func TestGitHubLogin(t *testing.T) {
	gh := authntest.NewProvider(t) // user 583231 "octocat", whom the example allows
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	replace := map[string]string{
		"https://mcp.example.com": public,
		"https://api.github.com":  gh.URL,
		"provider: github": "provider: github\n      auth_url: " + gh.URL + "/login/oauth/authorize\n      token_url: " + gh.URL +
			"/login/oauth/access_token\n      api_url: " + gh.URL,
		"/var/lib/api2mcp/api2mcp-auth.db": filepath.Join(t.TempDir(), "api2mcp-auth.db"),
	}
	env := map[string]string{"GITHUB_CLIENT_ID": gh.ClientID, "GITHUB_CLIENT_SECRET": gh.ClientSecret}
	cfg, err := configs.Load(filepath.Join("github-login", "mcp.yaml"), &configs.Options{
		Environ: func() []string { return nil },
		LookupEnv: func(name string) (string, bool) {
			if v, ok := env[name]; ok {
				return v, true
			}
			return exampleEnv(name)
		},
		ReadFile: func(name string) ([]byte, error) {
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, err
			}
			s := string(b)
			for from, to := range replace {
				if !strings.Contains(s, from) {
					return nil, fmt.Errorf("%s does not contain %s", name, from)
				}
				s = strings.ReplaceAll(s, from, to)
			}
			return []byte(s), nil
		},
	})
	if err != nil {
		t.Fatalf("loading github-login/mcp.yaml:\n%v", err)
	}
	s, err := proxy.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	// Register a public client (RFC 7591).
	const redirect = "http://127.0.0.1:49152/callback"
	var reg struct {
		ClientID string `json:"client_id"`
	}
	postJSON(t, public+"/register", `{"client_name":"Example App","redirect_uris":["`+redirect+`"],"token_endpoint_auth_method":"none"}`, http.StatusCreated, &reg)

	// The browser: /authorize → GitHub → /callback shows the consent page.
	verifier, challenge := authntest.PKCE("v")
	auth := public + "/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {redirect}, "state": {"xyz"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}.Encode()
	browser := authntest.NewBrowser(t, redirect)
	page := browser.Get(auth)
	if !strings.Contains(page.Body, "octocat") {
		t.Fatalf("the consent page does not name octocat:\n%s", page.Body)
	}
	done := browser.Post(public+"/consent", url.Values{"consent": {authntest.ConsentID(t, page)}, "action": {"approve"}})
	back := done.Location
	if done.Status != http.StatusSeeOther || back == nil || back.Query().Get("state") != "xyz" || back.Query().Get("code") == "" {
		t.Fatalf("consent answered %d, Location %v", done.Status, back)
	}

	// The app redeems the code, then calls get_me.
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	postForm(t, public+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {redirect}, "client_id": {reg.ClientID}, "code_verifier": {verifier}}, &tok)
	var call struct {
		Result struct {
			StructuredContent map[string]any `json:"structuredContent"`
			IsError           bool           `json:"isError"`
		} `json:"result"`
	}
	req, _ := http.NewRequest(http.MethodPost, public+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_me","arguments":{}}}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	do(t, http.DefaultClient, req, http.StatusOK, &call)
	want := map[string]any{"login": "octocat", "id": float64(583231), "name": "The Octocat", "email": "octocat@example.com"}
	for k, v := range want {
		if call.Result.StructuredContent[k] != v {
			t.Errorf("get_me: %s = %v, want %v (result %+v)", k, call.Result.StructuredContent[k], v, call.Result)
		}
	}
}

func postJSON(t *testing.T, u, body string, status int, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	do(t, http.DefaultClient, req, status, out)
}

func postForm(t *testing.T, u string, form url.Values, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	do(t, http.DefaultClient, req, http.StatusOK, out)
}

func do(t *testing.T, c *http.Client, req *http.Request, status int, out any) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d, want %d\n%s", req.Method, req.URL, resp.StatusCode, status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v\n%s", req.Method, req.URL, err, b)
	}
}
