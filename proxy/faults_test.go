package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// faultUpstream is a local upstream on 127.0.0.1 whose behaviour a test
// sets per path. It counts requests and the connections open to it.
type faultUpstream struct {
	*httptest.Server
	calls    atomic.Int64
	open     atomic.Int64 // connections not yet closed
	inflight atomic.Int64
	maxSeen  atomic.Int64
}

func newFaultUpstream(t *testing.T, h http.HandlerFunc) *faultUpstream {
	t.Helper()
	u := &faultUpstream{}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		n := u.inflight.Add(1)
		defer u.inflight.Add(-1)
		for {
			m := u.maxSeen.Load()
			if n <= m || u.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		h(w, r)
	}))
	u.Config.ConnState = func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			u.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			u.open.Add(-1)
		}
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

// checkLeaks records the goroutine count now and, when the test ends
// (after srv is closed), checks that goroutines and the connections open to
// the upstreams return to their baseline within a few seconds.
func checkLeaks(t *testing.T, srv *Server, ups ...*faultUpstream) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		srv.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			conns := int64(0)
			for _, u := range ups {
				conns += u.open.Load()
			}
			if n <= base && conns == 0 {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("leak: %d goroutines (baseline %d), %d upstream connections open\n%s", n, base, conns, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// session connects an in-memory client to srv.
func session(t *testing.T, srv *Server) *mcp.ClientSession {
	t.Helper()
	cs, err := srv.connectLocal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// callText calls a tool and returns its text and whether it is an error.
func callText(t *testing.T, ctx context.Context, cs *mcp.ClientSession, tool string, args string) (string, bool) {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: json.RawMessage(args)})
	if err != nil {
		t.Fatalf("%s: protocol error: %v", tool, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError
}

func TestCacheHitsAndCanonicalKeys(t *testing.T) {
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"q":%q}`, r.URL.RawQuery)
	})
	srv, _ := newTestServer(t, `
upstreams:
  api: { url: "${UPSTREAM}" }
tools:
  - name: get
    upstream: api
    path: /x
    input: { type: object, properties: { a: { type: number }, b: { type: string }, c: { type: integer, default: 3 } } }
    cache: { ttl: 1m }
  - name: nocache
    upstream: api
    path: /y
`, up.URL)
	checkLeaks(t, srv, up)
	cs := session(t, srv)
	ctx := context.Background()
	for _, args := range []string{`{"a":1,"b":"x"}`, `{"b":"x","a":1.0}`, `{ "a" : 1e0 , "b":"x", "c": 3}`} {
		if text, isErr := callText(t, ctx, cs, "get", args); isErr || !strings.Contains(text, "a=1") {
			t.Fatalf("get %s = %q, isError %v", args, text, isErr)
		}
	}
	if n := up.calls.Load(); n != 1 {
		t.Errorf("equivalent arguments: %d upstream calls, want 1", n)
	}
	callText(t, ctx, cs, "get", `{"a":2,"b":"x"}`)
	if n := up.calls.Load(); n != 2 {
		t.Errorf("different arguments: %d upstream calls, want 2", n)
	}
	callText(t, ctx, cs, "nocache", `{}`)
	callText(t, ctx, cs, "nocache", `{}`)
	if n := up.calls.Load(); n != 4 {
		t.Errorf("uncached tool: %d upstream calls, want 4", n)
	}
	if entries, _ := srv.cache.stats(); entries != 2 {
		t.Errorf("cache has %d entries, want 2", entries)
	}
	// After a reload (the mapping may have changed), an answer cached
	// before it is not used: the call is made again and its answer stored.
	reloaded := *srv.state.Load().cfg // the same config, loaded again
	if _, err := srv.Reload(&reloaded); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		callText(t, ctx, cs, "get", `{"a":2,"b":"x"}`)
	}
	if n := up.calls.Load(); n != 5 {
		t.Errorf("after a reload: %d upstream calls, want 5 (one new, then a hit)", n)
	}
}

func TestCacheRespectsUpstreamAndErrors(t *testing.T) {
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/nostore":
			w.Header().Set("Cache-Control", "no-store")
		case "/private":
			w.Header().Set("Cache-Control", "private, max-age=60")
		case "/fail":
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	})
	srv, _ := newTestServer(t, `
upstreams:
  api: { url: "${UPSTREAM}", retries: 0 }
tools:
  - { name: nostore, upstream: api, path: /nostore, cache: { ttl: 1m } }
  - { name: private_shared, upstream: api, path: /private, cache: { ttl: 1m, scope: shared } }
  - { name: private_user, upstream: api, path: /private, cache: { ttl: 1m } }
  - { name: fail, upstream: api, path: /fail, cache: { ttl: 1m } }
  - { name: bypass, upstream: api, path: /ok, cache: { ttl: 1m, bypass: true } }
  - { name: nobypass, upstream: api, path: /ok2, cache: { ttl: 1m } }
`, up.URL)
	checkLeaks(t, srv, up)
	cs := session(t, srv)
	ctx := context.Background()
	count := func(tool string, calls int, meta map[string]any) int64 {
		before := up.calls.Load()
		for range calls {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}, Meta: meta})
			if err != nil {
				t.Fatal(err)
			}
		}
		return up.calls.Load() - before
	}
	noCache := map[string]any{bypassMetaKey: bypassMetaValue}
	for _, c := range []struct {
		tool string
		meta map[string]any
		want int64
	}{
		{tool: "nostore", want: 3},
		{tool: "private_shared", want: 3},
		{tool: "private_user", want: 1},
		{tool: "fail", want: 3},
		{tool: "bypass", meta: noCache, want: 3},
		{tool: "nobypass", meta: noCache, want: 1},
	} {
		if got := count(c.tool, 3, c.meta); got != c.want {
			t.Errorf("%s: %d upstream calls for 3 tool calls, want %d", c.tool, got, c.want)
		}
	}
	// A bypass refreshed the entry: a normal call is now a hit.
	if got := count("bypass", 1, nil); got != 0 {
		t.Errorf("bypass then normal call: %d upstream calls, want 0", got)
	}
}

func TestCacheFloodOfIdenticalCallsIsOneUpstreamCall(t *testing.T) {
	release := make(chan struct{})
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"pets":[1,2,3]}`))
	})
	srv, _ := newTestServer(t, `
upstreams:
  api: { url: "${UPSTREAM}" }
tools:
  - { name: pets, upstream: api, path: /pets, cache: { ttl: 1m } }
`, up.URL)
	checkLeaks(t, srv, up)
	cs := session(t, srv)
	const callers = 50
	var wg sync.WaitGroup
	errs := make(chan string, callers)
	for range callers {
		wg.Go(func() {
			text, isErr := callText(t, context.Background(), cs, "pets", `{}`)
			if isErr || !strings.Contains(text, "[1,2,3]") {
				errs <- text
			}
		})
	}
	// Let every call gather behind the first before the upstream answers.
	waitForWaiters(t, srv, callers)
	close(release)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("a caller got %q", e)
	}
	if n := up.calls.Load(); n != 1 {
		t.Errorf("%d identical calls made %d upstream calls, want 1", callers, n)
	}
}

// waitForWaiters waits until n calls wait for one upstream answer.
func waitForWaiters(t *testing.T, srv *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		srv.cache.flights.mu.Lock()
		most := 0
		for _, f := range srv.cache.flights.m {
			most = max(most, f.waiting)
		}
		srv.cache.flights.mu.Unlock()
		if most >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls wait for the upstream, want %d", most, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCacheSharedCallCancelledOnlyWhenAllCallersLeave(t *testing.T) {
	cancelled := make(chan struct{})
	started := make(chan struct{}, 4)
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
		close(cancelled)
	})
	srv, _ := newTestServer(t, `
upstreams:
  api: { url: "${UPSTREAM}", timeout: 1m }
tools:
  - { name: slow, upstream: api, path: /slow, cache: { ttl: 1m } }
`, up.URL)
	checkLeaks(t, srv, up)
	cs := session(t, srv)
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, ctx := range []context.Context{ctx1, ctx2} {
		go func() {
			cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{}})
			done <- struct{}{}
		}()
	}
	<-started
	waitForWaiters(t, srv, 2)
	cancel1()
	<-done
	select {
	case <-cancelled:
		t.Fatal("the upstream request was cancelled while a caller still waited")
	case <-time.After(100 * time.Millisecond):
	}
	cancel2()
	<-done
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not cancelled after every caller left")
	}
	if n := up.calls.Load(); n != 1 {
		t.Errorf("%d upstream calls, want 1", n)
	}
}

// slowToolServer serves a tool "slow" whose upstream answers only when its
// request is cancelled: started closes when the request arrives, cancelled
// when it is cancelled.
func slowToolServer(t *testing.T) (srv *Server, started, cancelled chan struct{}) {
	t.Helper()
	cancelled = make(chan struct{})
	started = make(chan struct{})
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		close(cancelled)
	})
	srv, _ = newTestServer(t, `
upstreams:
  api: { url: "${UPSTREAM}", timeout: 1m }
tools:
  - { name: slow, upstream: api, path: /slow }
`, up.URL)
	checkLeaks(t, srv, up)
	return srv, started, cancelled
}

func TestCancellationReachesUpstream(t *testing.T) {
	srv, started, cancelled := slowToolServer(t)
	cs := session(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel() // the Go SDK client sends notifications/cancelled
	}()
	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{}})
	if err == nil {
		t.Fatal("a cancelled call returned no error")
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("notifications/cancelled did not cancel the upstream request")
	}
}

func TestCancellationWhenHTTPClientGoesAway(t *testing.T) {
	srv, started, cancelled := slowToolServer(t)
	front := httptest.NewServer(srv.Handler(context.Background()))
	defer front.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel() // drops the HTTP connection
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, front.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the request finished with %s instead of being cut", resp.Status)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("dropping the connection did not cancel the upstream request")
	}
}

func TestRateLimits(t *testing.T) {
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	})
	srv, _ := newTestServer(t, `
rate_limits:
  caller: { requests: 5, per: 1h }
upstreams:
  api: { url: "${UPSTREAM}" }
tools:
  - { name: limited, upstream: api, path: /a, rate_limit: { requests: 2, per: 1m } }
  - { name: free, upstream: api, path: /b }
`, up.URL)
	checkLeaks(t, srv, up)
	cs := session(t, srv)
	ctx := context.Background()
	for i := range 2 {
		if text, isErr := callText(t, ctx, cs, "limited", `{}`); isErr {
			t.Fatalf("call %d: %s", i, text)
		}
	}
	text, isErr := callText(t, ctx, cs, "limited", `{}`)
	if !isErr || !regexp.MustCompile(`rate limit exceeded \(2 calls per 1m0s per caller\); retry after (29|30) seconds`).MatchString(text) {
		t.Errorf("third call = %q, isError %v", text, isErr)
	}
	// The refused call took no token from the caller's bucket: 3 left.
	for i := range 3 {
		if text, isErr := callText(t, ctx, cs, "free", `{}`); isErr {
			t.Fatalf("free call %d: %s", i, text)
		}
	}
	text, isErr = callText(t, ctx, cs, "free", `{}`)
	if !isErr || !strings.Contains(text, "5 calls per 1h0m0s per caller across all tools") || !strings.Contains(text, "retry after") {
		t.Errorf("sixth call = %q, isError %v", text, isErr)
	}
	if n := up.calls.Load(); n != 5 {
		t.Errorf("%d upstream calls, want 5", n)
	}
}

func TestRateLimitFloodFromOneCaller(t *testing.T) {
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	})
	srv, _ := newTestServer(t, `
upstreams:
  api: { url: "${UPSTREAM}" }
tools:
  - { name: t, upstream: api, path: /a, rate_limit: { requests: 10, per: 1h, scope: tool } }
`, up.URL)
	checkLeaks(t, srv, up)
	cs := session(t, srv)
	var wg sync.WaitGroup
	var ok, limited atomic.Int64
	for range 100 {
		wg.Go(func() {
			text, isErr := callText(t, context.Background(), cs, "t", `{}`)
			switch {
			case !isErr:
				ok.Add(1)
			case strings.Contains(text, "for all callers); retry after"):
				limited.Add(1)
			default:
				t.Errorf("unexpected result %q", text)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 || limited.Load() != 90 || up.calls.Load() != 10 {
		t.Errorf("100 calls: %d ok, %d limited, %d upstream calls; want 10, 90, 10", ok.Load(), limited.Load(), up.calls.Load())
	}
}

func TestFrontDoorClientLimit(t *testing.T) {
	srv, _ := newTestServer(t, `
rate_limits:
  client_ip: { requests: 3, per: 1m }
upstreams:
  api: { url: "http://127.0.0.1:1" }
tools:
  - { name: t, upstream: api, path: /a }
`, "")
	front := httptest.NewServer(srv.Handler(context.Background()))
	defer front.Close()
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	for i := range 3 {
		resp, _, err := postMCP(front.URL, ping, map[string]string{"Mcp-Protocol-Version": "2025-06-18"})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %v %v", i, resp, err)
		}
	}
	// Even a body that is not JSON is turned away before it is read.
	resp, body, err := postMCP(front.URL, "not json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "20" || !strings.Contains(body, "too many requests") {
		t.Errorf("fourth request: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestUpstreamFaults(t *testing.T) {
	var bigWritten atomic.Int64
	var flaky atomic.Int64
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hang":
			<-r.Context().Done()
		case "/reset_mid_body":
			w.Header().Set("Content-Length", "1000")
			w.Write([]byte(`{"partial":`))
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
		case "/500":
			http.Error(w, "internal trouble", http.StatusInternalServerError)
		case "/huge":
			// 2 GB, produced lazily and never held: the proxy must stop
			// reading at max_response_bytes.
			w.Header().Set("Content-Type", "application/json")
			n, _ := io.Copy(w, io.LimitReader(zeros{}, 2<<30))
			bigWritten.Store(n)
		case "/huge_announced":
			w.Header().Set("Content-Length", fmt.Sprint(int64(2<<30)))
			n, _ := io.Copy(w, io.LimitReader(zeros{}, 2<<30))
			bigWritten.Store(n)
		case "/invalid_json":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"broken": [1, 2`))
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("closing"))
		case "/flaky":
			if flaky.Add(1)%3 != 0 {
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("third time lucky"))
		}
	})
	srv, _ := newTestServer(t, `
upstreams:
  api: { url: "${UPSTREAM}", timeout: 500ms, max_response_bytes: 1048576, retry_backoff: 1ms, circuit_breaker: { disabled: true } }
tools:
  - { name: hang, upstream: api, path: /hang }
  - { name: reset_mid_body, upstream: api, path: /reset_mid_body }
  - { name: e500, upstream: api, path: /500 }
  - { name: huge, upstream: api, path: /huge }
  - { name: huge_announced, upstream: api, path: /huge_announced }
  - { name: invalid_json, upstream: api, path: /invalid_json }
  - { name: close, upstream: api, path: /close }
  - { name: flaky, upstream: api, path: /flaky }
`, up.URL)
	checkLeaks(t, srv, up)
	cs := session(t, srv)
	ctx := context.Background()
	for _, c := range []struct {
		tool, want string
		isErr      bool
	}{
		{tool: "hang", want: "hang: upstream api did not answer within 500ms", isErr: true},
		{tool: "reset_mid_body", want: "closed the connection before answering in full", isErr: true},
		{tool: "e500", want: "HTTP 500", isErr: true},
		{tool: "huge", want: "sent a response larger than 1048576 bytes (max_response_bytes)", isErr: true},
		{tool: "huge_announced", want: "announced a response of 2147483648 bytes, more than 1048576", isErr: true},
		{tool: "invalid_json", want: "invalid_json:", isErr: true},
		{tool: "close", want: "closing"},
		{tool: "close", want: "closing"},
		{tool: "flaky", want: "third time lucky"},
	} {
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		text, isErr := callText(t, ctx, cs, c.tool, `{}`)
		if isErr != c.isErr || !strings.Contains(text, c.want) {
			t.Errorf("%s = %q, isError %v; want %q, isError %v", c.tool, text, isErr, c.want, c.isErr)
		}
		if strings.HasPrefix(c.tool, "huge") {
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if grown := after.TotalAlloc - before.TotalAlloc; grown > 64<<20 {
				t.Errorf("%s: %d MB allocated for a body capped at 1 MB", c.tool, grown>>20)
			}
		}
	}
	// The huge handlers stopped once the proxy hung up.
	for deadline := time.Now().Add(5 * time.Second); up.inflight.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := bigWritten.Load(); n > 256<<20 {
		t.Errorf("the upstream wrote %d MB of the 2 GB body before the proxy stopped it", n>>20)
	}
	if n := flaky.Load(); n != 3 {
		t.Errorf("flaky: %d attempts, want 3 (two 503s retried)", n)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

func TestRetriesOnlyWhenSafe(t *testing.T) {
	var mu sync.Mutex
	keys := map[string][]string{}
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys[r.Method+" "+r.URL.Path] = append(keys[r.Method+" "+r.URL.Path], r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		switch r.URL.Path {
		case "/429":
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/429-no-retry-after":
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	srv, _ := newTestServer(t, `
upstreams:
  api: { url: "${UPSTREAM}", retries: 2, retry_backoff: 1ms, circuit_breaker: { disabled: true } }
tools:
  - { name: get, upstream: api, path: /get }
  - { name: post, upstream: api, method: POST, path: /post }
  - name: post_keyed
    upstream: api
    method: POST
    path: /keyed
    input: { type: object, properties: { order: { type: string } }, required: [order] }
    idempotency_key: '"order-" + args.order'
  - { name: r429, upstream: api, path: /429 }
  - { name: r429_bare, upstream: api, path: /429-no-retry-after }
`, up.URL)
	checkLeaks(t, srv, up)
	cs := session(t, srv)
	ctx := context.Background()
	callText(t, ctx, cs, "get", `{}`)
	callText(t, ctx, cs, "post", `{}`)
	callText(t, ctx, cs, "post_keyed", `{"order":"A7"}`)
	callText(t, ctx, cs, "r429", `{}`)
	callText(t, ctx, cs, "r429_bare", `{}`)
	mu.Lock()
	defer mu.Unlock()
	for route, want := range map[string]int{"GET /get": 3, "POST /post": 1, "POST /keyed": 3, "GET /429": 3, "GET /429-no-retry-after": 1} {
		if got := len(keys[route]); got != want {
			t.Errorf("%s: %d attempts, want %d", route, got, want)
		}
	}
	for _, k := range keys["POST /keyed"] {
		if k != "order-A7" {
			t.Errorf("Idempotency-Key = %q, want order-A7 on every attempt", k)
		}
	}
}

func TestCircuitBreakerDownThenRecovers(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("back"))
	})
	srv, logs := newTestServer(t, `
upstreams:
  api: { url: "${UPSTREAM}", retries: 0, circuit_breaker: { failures: 3, open_for: 200ms } }
tools:
  - { name: t, upstream: api, path: /a }
`, up.URL)
	checkLeaks(t, srv, up)
	cs := session(t, srv)
	ctx := context.Background()
	for range 3 {
		if text, _ := callText(t, ctx, cs, "t", `{}`); !strings.Contains(text, "HTTP 503") {
			t.Fatalf("while down: %q", text)
		}
	}
	text, isErr := callText(t, ctx, cs, "t", `{}`)
	if !isErr || !strings.Contains(text, "circuit open") || up.calls.Load() != 3 {
		t.Fatalf("after 3 failures: %q (upstream calls %d), want a fast circuit-open error", text, up.calls.Load())
	}
	down.Store(false)
	time.Sleep(250 * time.Millisecond)
	if text, isErr := callText(t, ctx, cs, "t", `{}`); isErr || text != "back" {
		t.Fatalf("probe after recovery: %q", text)
	}
	if text, isErr := callText(t, ctx, cs, "t", `{}`); isErr || text != "back" {
		t.Fatalf("after the probe: %q", text)
	}
	log := logs.String()
	if !strings.Contains(log, "msg=circuit_open upstream=api failures=3 open_for=200ms") || !strings.Contains(log, "msg=circuit_closed upstream=api") {
		t.Errorf("the log does not tell the circuit opened and closed:\n%s", log)
	}
}

func TestMaxConcurrentPerUpstream(t *testing.T) {
	up := newFaultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.Write([]byte("ok"))
	})
	srv, _ := newTestServer(t, `
upstreams:
  api: { url: "${UPSTREAM}", max_concurrent: 3 }
tools:
  - { name: t, upstream: api, path: /a }
`, up.URL)
	checkLeaks(t, srv, up)
	cs := session(t, srv)
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			if text, isErr := callText(t, context.Background(), cs, "t", `{}`); isErr {
				t.Errorf("call: %s", text)
			}
		})
	}
	wg.Wait()
	if m := up.maxSeen.Load(); m > 3 || m < 1 {
		t.Errorf("%d requests in flight at once, want at most 3", m)
	}
	if n := up.open.Load(); n > 3 {
		t.Errorf("%d upstream connections open, want at most 3", n)
	}
}

// stuckListener is a 127.0.0.1 port whose accept queue is full: the kernel
// drops further SYNs, so a connection attempt hangs until its timeout.
func stuckListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Skipf("socket: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue.
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err == nil {
		c.Close()
		t.Skip("this kernel accepts connections beyond the listen backlog")
	}
	return addr
}

func TestConnectTimeout(t *testing.T) {
	addr := stuckListener(t)
	srv, _ := newTestServer(t, `
upstreams:
  api: { url: "${UPSTREAM}", connect_timeout: 150ms, timeout: 10s, retries: 0 }
tools:
  - { name: t, upstream: api, path: /a }
`, "http://"+addr)
	cs := session(t, srv)
	start := time.Now()
	text, isErr := callText(t, context.Background(), cs, "t", `{}`)
	if !isErr || !strings.Contains(text, "could not connect to upstream api within 150ms (connect_timeout)") {
		t.Errorf("result %q, want a connect timeout", text)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the call took %s; connect_timeout is 150ms", d)
	}
}
