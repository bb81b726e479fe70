package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// TestCallerIdentityFromTokenInfo puts the SDK's bearer-token middleware in
// front, as the front door will, and checks that cache entries and rate
// limits follow TokenInfo.UserID.
func TestCallerIdentityFromTokenInfo(t *testing.T) {
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	})
	srv, _ := newTestServer(t, `
upstreams:
  api: { url: "${UPSTREAM}" }
tools:
  - { name: mine, upstream: api, path: /mine, cache: { ttl: 1h } }
  - { name: public, upstream: api, path: /public, cache: { ttl: 1h, scope: shared } }
  - { name: limited, upstream: api, path: /limited, rate_limit: { requests: 1, per: 1h } }
`, up.URL)
	checkLeaks(t, srv, up)
	verify := func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		user, ok := strings.CutPrefix(token, "token-")
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: user, Expiration: time.Now().Add(time.Hour)}, nil
	}
	front := httptest.NewServer(auth.RequireBearerToken(verify, nil)(srv.Handler(context.Background())))
	defer front.Close()
	call := func(user, tool string) string {
		t.Helper()
		resp, body, err := postMCP(front.URL, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"`+tool+`","arguments":{}}}`,
			map[string]string{"Authorization": "Bearer token-" + user, "Mcp-Protocol-Version": "2025-06-18"})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s as %s: %v %v", tool, user, resp, err)
		}
		return body
	}
	for _, user := range []string{"alice", "bob", "alice", "bob"} {
		call(user, "mine")
		call(user, "public")
	}
	if got := up.calls.Load(); got != 3 {
		t.Errorf("%d upstream calls, want 3 (mine once per user, public once)", got)
	}
	if body := call("alice", "limited"); strings.Contains(body, "rate limit") {
		t.Errorf("alice's first call was limited: %s", body)
	}
	if body := call("alice", "limited"); !strings.Contains(body, "rate limit exceeded") {
		t.Errorf("alice's second call was not limited: %s", body)
	}
	if body := call("bob", "limited"); strings.Contains(body, "rate limit") {
		t.Errorf("bob was limited by alice's calls: %s", body)
	}
}
