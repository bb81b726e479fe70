package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/api2mcp/api2mcp/configs"
	"github.com/api2mcp/api2mcp/mapping"
)

func TestCacheTTLAndBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newResponseCache(configs.CacheSpec{MaxEntries: 3, MaxBytes: 3 * (entryOverhead + 10)}, time.Now)
		r := &encodedResult{json: []byte("0123456789")}
		c.put("a", r, time.Minute)
		time.Sleep(59 * time.Second)
		if _, ok := c.get("a", nil); !ok {
			t.Fatal("entry gone before its TTL")
		}
		time.Sleep(time.Second)
		if _, ok := c.get("a", nil); ok {
			t.Fatal("entry served at its TTL")
		}
		if n, b := c.stats(); n != 0 || b != 0 {
			t.Fatalf("after expiry: %d entries, %d bytes", n, b)
		}
		for _, k := range []string{"a", "b", "c", "d"} {
			c.put(k, r, time.Hour)
		}
		if _, ok := c.get("a", nil); ok {
			t.Error("the least recently used entry was not evicted at max_entries")
		}
		// A bigger entry pushes out by bytes.
		c.put("big", &encodedResult{json: []byte(strings.Repeat("x", 20))}, time.Hour)
		n, b := c.stats()
		if b > 3*(entryOverhead+10) || n != 2 {
			t.Errorf("after a big entry: %d entries, %d bytes (max %d)", n, b, 3*(entryOverhead+10))
		}
		// An entry bigger than the whole cache is not stored.
		c.put("huge", &encodedResult{json: []byte(strings.Repeat("x", 4096))}, time.Hour)
		if _, ok := c.get("huge", nil); ok {
			t.Error("an entry over max_bytes was stored")
		}
	})
}

func TestCachePolicyKeys(t *testing.T) {
	compile := func(spec mapping.Spec) *mapping.Tool {
		tool, err := mapping.Compile(spec)
		if err != nil {
			t.Fatal(err)
		}
		return tool
	}
	input := map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}
	get := compile(mapping.Spec{Name: "get", Upstream: "u", Path: "/x", Input: input})
	post := compile(mapping.Spec{Name: "post", Upstream: "u", Method: "POST", Path: "/x", Input: input})
	up := &upstreamClient{cfg: &configs.Upstream{ForwardHeaders: []string{"X-Tenant"}}}
	user := &toolEntry{tool: get, upstream: up, policy: configs.ToolPolicy{Cache: &configs.ToolCache{TTL: time.Minute}}}
	shared := &toolEntry{tool: get, upstream: up, policy: configs.ToolPolicy{Cache: &configs.ToolCache{TTL: time.Minute, Shared: true}}}
	write := &toolEntry{tool: post, upstream: up, policy: configs.ToolPolicy{Cache: &configs.ToolCache{TTL: time.Minute}}}
	none := &toolEntry{tool: get, upstream: up}
	req := func(tool *mapping.Tool, args string) *mapping.Request {
		r, err := tool.BuildRequest([]byte(args), nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	key := func(e *toolEntry, caller string, h http.Header) string {
		return cachePolicy(e, req(e.tool, `{"q":"a"}`), caller, h, nil).key
	}
	if key(none, "alice", nil) != "" || key(write, "alice", nil) != "" {
		t.Error("an uncached or writing tool got a key")
	}
	if key(user, "alice", nil) == key(user, "bob", nil) {
		t.Error("scope user: two callers share a key")
	}
	if key(shared, "alice", nil) != key(shared, "bob", nil) {
		t.Error("scope shared: two callers have different keys")
	}
	if key(shared, "", nil) == key(user, "", nil) {
		t.Error("the shared key equals the anonymous user's key")
	}
	if key(user, "a", http.Header{"X-Tenant": {"1"}}) == key(user, "a", http.Header{"X-Tenant": {"2"}}) {
		t.Error("a forwarded header does not change the key")
	}
	if key(user, "a", http.Header{"X-Other": {"1"}}) != key(user, "a", nil) {
		t.Error("a header that is not forwarded changes the key")
	}
	if cachePolicy(user, req(get, `{"q":"a"}`), "", nil, map[string]any{bypassMetaKey: bypassMetaValue}).lookup != true {
		t.Error("bypass honoured for a tool without cache.bypass")
	}
}

func TestCacheStoreRules(t *testing.T) {
	ok := mapping.Result{Text: "x"}
	for _, c := range []struct {
		name    string
		shared  bool
		status  int
		header  http.Header
		shaped  mapping.Result
		wantTTL time.Duration // 0: not stored
	}{
		{name: "plain", status: 200, shaped: ok, wantTTL: time.Minute},
		{name: "error status", status: 404, shaped: ok},
		{name: "shaping error", status: 200, shaped: mapping.Result{IsError: true}},
		{name: "no-store", status: 200, header: http.Header{"Cache-Control": {"No-Store"}}, shaped: ok},
		{name: "no-cache", status: 200, header: http.Header{"Cache-Control": {"max-age=5, no-cache"}}, shaped: ok},
		{name: "private for user", status: 200, header: http.Header{"Cache-Control": {"private"}}, shaped: ok, wantTTL: time.Minute},
		{name: "private shared", shared: true, status: 200, header: http.Header{"Cache-Control": {"private"}}, shaped: ok},
		{name: "set-cookie shared", shared: true, status: 200, header: http.Header{"Set-Cookie": {"a=b"}}, shaped: ok},
		{name: "max-age shortens", status: 200, header: http.Header{"Cache-Control": {"public, max-age=10"}}, shaped: ok, wantTTL: 10 * time.Second},
		{name: "max-age longer", status: 200, header: http.Header{"Cache-Control": {"max-age=3600"}}, shaped: ok, wantTTL: time.Minute},
		{name: "max-age zero", status: 200, header: http.Header{"Cache-Control": {"max-age=0"}}, shaped: ok},
		{name: "vary star", status: 200, header: http.Header{"Vary": {"*"}}, shaped: ok},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := cacheDecision{key: "k", lookup: true, ttl: time.Minute, shared: c.shared}
			h := c.header
			if h == nil {
				h = http.Header{}
			}
			ttl, stored := d.store(c.status, h, c.shaped)
			if stored != (c.wantTTL > 0) || ttl != c.wantTTL {
				t.Errorf("store = %v, %v; want %v", ttl, stored, c.wantTTL)
			}
		})
	}
}

// stubTransport answers with the next of its outcomes.
type stubTransport struct {
	outcomes []int // HTTP status, or 0 for a connection error
	calls    int
}

func (s *stubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	o := s.outcomes[min(s.calls, len(s.outcomes)-1)]
	s.calls++
	if o == 0 {
		return nil, errors.New("connection refused")
	}
	return &http.Response{StatusCode: o, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}, nil
}

func TestBreakerStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stub := &stubTransport{outcomes: []int{0, 502, 500, 200}}
		b := &breakerTransport{next: stub, upstream: "api", failures: 3, openFor: 10 * time.Second, now: time.Now}
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
		do := func() error {
			resp, err := b.RoundTrip(req)
			if resp != nil {
				resp.Body.Close()
			}
			return err
		}
		// A 500 is not a failure of the upstream: it resets the count.
		for range 3 {
			do()
		}
		if err := do(); err != nil || stub.calls != 4 {
			t.Fatalf("after failure, failure, 500: %v (upstream calls %d), want the circuit closed", err, stub.calls)
		}
		stub.outcomes = []int{503, 504, 0, 503, 200}
		stub.calls = 0
		for range 3 {
			do()
		}
		var open *circuitOpenError
		if err := do(); !errors.As(err, &open) || stub.calls != 3 {
			t.Fatalf("after 3 failures: %v (upstream calls %d), want circuit open", err, stub.calls)
		}
		if !strings.Contains(open.Error(), "retry in 10 seconds") {
			t.Errorf("message %q", open.Error())
		}
		time.Sleep(10 * time.Second)
		// Half-open: the probe fails (503), the circuit opens again.
		if err := do(); err != nil || stub.calls != 4 {
			t.Fatalf("probe: %v, calls %d", err, stub.calls)
		}
		if err := do(); !errors.As(err, &open) {
			t.Fatalf("after a failed probe: %v, want circuit open", err)
		}
		time.Sleep(10 * time.Second)
		if err := do(); err != nil || stub.calls != 5 {
			t.Fatalf("second probe: %v", err)
		}
		// Closed again: calls pass.
		if err := do(); err != nil || stub.calls != 6 {
			t.Fatalf("after a good probe: %v, calls %d", err, stub.calls)
		}
	})
}

func TestRetryRespectsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stub := &stubTransport{outcomes: []int{503}}
		rt := &retryTransport{next: stub, retries: 5, backoff: time.Second, jitter: func() float64 { return 0.999 }}
		ctx, cancel := contextWithTimeout(t, 2500*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// Waits of ~1s and ~2s: the second would pass the deadline, so the
		// last 503 is returned after two attempts.
		if resp.StatusCode != 503 || stub.calls != 2 {
			t.Errorf("status %d after %d attempts, want 503 after 2", resp.StatusCode, stub.calls)
		}
	})
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(t.Context(), d)
}

func TestQueueTimeoutIsNotAnUpstreamFailure(t *testing.T) {
	stub := &stubTransport{outcomes: []int{200}}
	lt := &limitTransport{next: stub, upstream: "api", slots: make(chan struct{}, 1)}
	b := &breakerTransport{next: lt, upstream: "api", failures: 1, openFor: time.Hour, now: time.Now}
	lt.slots <- struct{}{} // the only slot is taken
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/", nil)
	_, err := b.RoundTrip(req)
	var noSlot *noSlotError
	if !errors.As(err, &noSlot) || stub.calls != 0 {
		t.Fatalf("with no free slot: %v (upstream calls %d), want a noSlotError", err, stub.calls)
	}
	c := &upstreamClient{cfg: &configs.Upstream{Name: "api", MaxConcurrent: 1, Timeout: 300 * time.Millisecond}}
	if got := c.describe(ctx, err).Error(); got != "upstream api is busy: no free slot (max_concurrent 1) within 300ms" {
		t.Errorf("message %q", got)
	}
	<-lt.slots
	req, _ = http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	resp, err := b.RoundTrip(req)
	if err != nil {
		t.Fatalf("after the queue timeout (failures: 1): %v, want the circuit still closed", err)
	}
	resp.Body.Close()
	if len(lt.slots) != 0 {
		t.Error("closing the body did not free the slot")
	}
}

// TestCacheHitsAreChecked: a call is authorized and its arguments checked
// before the cache is read, on the fast path and through the SDK. Alice
// fills shared entries; callers that may not make the call, or make it with
// arguments their rules refuse, never get her cached answers.
func TestCacheHitsAreChecked(t *testing.T) {
	var calls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"answer":"cached-for-alice"}`)
	}))
	defer up.Close()
	const yaml = `
auth:
  mode: api_key
  api_keys:
    - { name: alice, key: alice-key-0123456789, scopes: [read] }
    - { name: bob, key: bob-key-0123456789 }
upstreams: { api: { url: "${UPSTREAM}" } }
tools:
  - name: allowed
    upstream: api
    path: /a/{id}
    input: { type: object, properties: { id: { type: integer } }, required: [id] }
    allow: 'claims.sub == "alice"'
    cache: { ttl: 1h, scope: shared }
  - name: scoped
    upstream: api
    path: /s/{id}
    input: { type: object, properties: { id: { type: integer } }, required: [id] }
    scopes: [read]
    cache: { ttl: 1h, scope: shared }
  - name: validated
    upstream: api
    path: /v/{id}
    input: { type: object, properties: { id: { type: integer } }, required: [id] }
    validate: [{ rule: 'claims.sub == "alice" || args.id != 1', message: only alice may ask for 1 }]
    cache: { ttl: 1h, scope: shared }
`
	for _, fast := range []bool{true, false} {
		t.Run(fmt.Sprintf("fast=%v", fast), func(t *testing.T) {
			srv, _ := newTestServer(t, yaml, up.URL)
			srv.noFastPath = !fast
			front := httptest.NewServer(srv.Handler(t.Context()))
			defer front.Close()
			call := func(key, tool string, args string) (int, string) {
				resp, body, err := postMCP(front.URL, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"`+tool+`","arguments":`+args+`}}`,
					map[string]string{"Authorization": "Bearer " + key, "MCP-Protocol-Version": "2025-11-25"})
				if err != nil {
					t.Fatal(err)
				}
				return resp.StatusCode, body
			}
			for _, tool := range []string{"allowed", "scoped", "validated"} {
				calls.Store(0)
				for range 2 {
					if status, body := call("alice-key-0123456789", tool, `{"id":1}`); status != 200 || !strings.Contains(body, "cached-for-alice") {
						t.Fatalf("alice calling %s: %d %s", tool, status, body)
					}
				}
				if n := calls.Load(); n != 1 {
					t.Fatalf("%s: %d upstream calls for two identical calls, want 1 (a cache hit)", tool, n)
				}
				status, body := call("bob-key-0123456789", tool, `{"id":1}`)
				if strings.Contains(body, "cached-for-alice") {
					t.Errorf("bob calling %s got alice's cached answer: %d %s", tool, status, body)
				}
				if status == 200 && !strings.Contains(body, `"isError":true`) {
					t.Errorf("bob calling %s: %d %s, want a refusal", tool, status, body)
				}
				// Bad arguments are refused before the cache too.
				if status, body := call("alice-key-0123456789", tool, `{"id":"1"}`); strings.Contains(body, "cached-for-alice") {
					t.Errorf("alice calling %s with a bad argument got the cached answer: %d %s", tool, status, body)
				}
				if n := calls.Load(); n != 1 {
					t.Errorf("%s: refused calls reached the upstream (%d calls)", tool, n)
				}
			}
		})
	}
}
