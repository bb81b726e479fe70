package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestH1(maxIdle int, idleTimeout time.Duration) *h1Transport {
	return &h1Transport{
		dial:        (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		maxIdle:     maxIdle,
		idleTimeout: idleTimeout,
		next:        http.DefaultTransport,
	}
}

// connCounter counts the connections a test server accepted and closed.
type connCounter struct{ opened, closed atomic.Int32 }

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.opened.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.closed.Add(1)
	}
}

func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *connCounter) {
	t.Helper()
	var cc connCounter
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = cc.hook
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &cc
}

// h1Call sends one request through tr and returns the status and body.
func h1Call(t *testing.T, tr http.RoundTripper, method, url, body string) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var req *http.Request
	if body != "" {
		req = newRequest(ctx, method, mustURL(t, url), []byte(body))
	} else {
		req = newRequest(ctx, method, mustURL(t, url), nil)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), err
}

// eventually polls cond for up to 10 s: for what happens on another
// goroutine or in the kernel after a call returns.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("still not so after 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestH1ReusesConnection(t *testing.T) {
	srv, cc := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("one,"))
			w.(http.Flusher).Flush()
			w.Write([]byte("two"))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
		}
	}))
	tr := newTestH1(4, time.Minute)
	defer tr.CloseIdleConnections()
	want := map[string][2]string{
		"GET /a":        {"", "GET /a "},
		"POST /b":       {`{"x":1}`, `POST /b {"x":1}`},
		"GET /chunked":  {"", "one,two"},
		"DELETE /empty": {"", ""},
		"HEAD /a":       {"", ""},
	}
	for range 5 {
		for call, w := range want {
			method, path, _ := strings.Cut(call, " ")
			status, got, err := h1Call(t, tr, method, srv.URL+path, w[0])
			if err != nil || got != w[1] || status >= 300 {
				t.Fatalf("%s: %d %q, %v; want %q", call, status, got, err, w[1])
			}
		}
	}
	if n := cc.opened.Load(); n != 1 {
		t.Errorf("25 calls one after another opened %d connections, want 1", n)
	}
}

// rawServer serves each connection with fn; it is for answers net/http's
// server would never send.
func rawServer(t *testing.T, fn func(n int, c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				fn(n, c, bufio.NewReader(c))
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestH1ConnectionNotReused(t *testing.T) {
	for name, answer := range map[string]string{
		"connection close": "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
		"body to EOF":      "HTTP/1.1 200 OK\r\n\r\nok",
		"HTTP/1.0":         "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
	} {
		t.Run(name, func(t *testing.T) {
			var conns atomic.Int32
			url := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
				conns.Add(1)
				for {
					if _, err := readRequest(br); err != nil {
						return
					}
					io.WriteString(c, answer)
					if name == "body to EOF" {
						return // the end of the body is the end of the connection
					}
				}
			})
			tr := newTestH1(4, time.Minute)
			defer tr.CloseIdleConnections()
			for range 3 {
				if _, body, err := h1Call(t, tr, "POST", url+"/x", "{}"); err != nil || body != "ok" {
					t.Fatalf("got %q, %v", body, err)
				}
			}
			if n := conns.Load(); n != 3 {
				t.Errorf("3 calls used %d connections, want 3 (none may be reused)", n)
			}
		})
	}
}

func TestH1AbandonedBodyClosesConnection(t *testing.T) {
	srv, cc := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 64<<10)))
	}))
	tr := newTestH1(4, time.Minute)
	defer tr.CloseIdleConnections()
	req := newRequest(context.Background(), "GET", mustURL(t, srv.URL), nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	if _, body, err := h1Call(t, tr, "GET", srv.URL, ""); err != nil || len(body) != 64<<10 {
		t.Fatalf("next call: %d bytes, %v", len(body), err)
	}
	if n := cc.opened.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the rest of an abandoned body is not the next response", n)
	}
	eventually(t, "the abandoned connection is closed", func() bool { return cc.closed.Load() >= 1 })
}

// An upstream that sends more than its response (a second response nobody
// asked for) must not have those bytes read as the answer to the next
// request, which may be another user's.
func TestH1UnsolicitedBytesNeverAnswerTheNextCall(t *testing.T) {
	for _, delayed := range []bool{false, true} {
		t.Run(fmt.Sprintf("delayed=%v", delayed), func(t *testing.T) {
			sent := make(chan struct{})
			url := rawServer(t, func(n int, c net.Conn, br *bufio.Reader) {
				for {
					if _, err := readRequest(br); err != nil {
						return
					}
					if n > 0 {
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine")
						continue
					}
					evil := "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"
					if delayed {
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
						time.Sleep(20 * time.Millisecond)
						io.WriteString(c, evil)
					} else {
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"+evil)
					}
					close(sent)
				}
			})
			tr := newTestH1(4, time.Minute)
			defer tr.CloseIdleConnections()
			if _, body, err := h1Call(t, tr, "GET", url+"/first", ""); err != nil || body != "ok" {
				t.Fatalf("first call: %q, %v", body, err)
			}
			<-sent
			time.Sleep(50 * time.Millisecond) // the extra bytes are in our socket buffer
			if _, body, err := h1Call(t, tr, "GET", url+"/second", ""); err != nil || body != "fine" {
				t.Fatalf("second call: %q, %v; want the answer to its own request", body, err)
			}
		})
	}
}

// An idle connection the upstream closed (keep-alive timeouts of a few
// seconds are common) is found out before a request is written on it: a
// POST is sent once and succeeds.
func TestH1IdleConnectionClosedByUpstream(t *testing.T) {
	var requests atomic.Int32
	closed := make(chan struct{}, 10)
	url := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		requests.Add(1)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close() // without saying so: the connection looked reusable
		closed <- struct{}{}
	})
	tr := newTestH1(4, time.Minute)
	defer tr.CloseIdleConnections()
	for i := range 3 {
		if _, body, err := h1Call(t, tr, "POST", url+"/orders", `{"n":1}`); err != nil || body != "ok" {
			t.Fatalf("call %d: %q, %v", i, body, err)
		}
		<-closed
		time.Sleep(50 * time.Millisecond) // the FIN has arrived
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("the upstream received %d requests for 3 calls", n)
	}
}

// A pooled connection that fails once a request is written on it: a GET is
// repeated on a new connection, a POST is not (it may have been acted on).
func TestH1StaleConnectionRetry(t *testing.T) {
	for _, tc := range []struct {
		method   string
		wantErr  bool
		requests int32
	}{
		{"GET", false, 3},
		{"POST", true, 2},
	} {
		t.Run(tc.method, func(t *testing.T) {
			var requests atomic.Int32
			url := rawServer(t, func(n int, c net.Conn, br *bufio.Reader) {
				for i := 0; ; i++ {
					if _, err := readRequest(br); err != nil {
						return
					}
					requests.Add(1)
					if n == 0 && i == 1 {
						return // the second request on the first connection: closed unanswered
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			tr := newTestH1(4, time.Minute)
			defer tr.CloseIdleConnections()
			if _, _, err := h1Call(t, tr, tc.method, url, "{}"); err != nil {
				t.Fatal(err)
			}
			_, body, err := h1Call(t, tr, tc.method, url, "{}")
			if tc.wantErr != (err != nil) || (err == nil && body != "ok") {
				t.Fatalf("second call: %q, %v; want error %v", body, err, tc.wantErr)
			}
			if n := requests.Load(); n != tc.requests {
				t.Errorf("the upstream received %d requests, want %d", n, tc.requests)
			}
		})
	}
}

func TestH1InformationalResponses(t *testing.T) {
	url := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			switch req.URL.Path {
			case "/hints":
				io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			case "/upgrade":
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			case "/endless":
				io.WriteString(c, strings.Repeat("HTTP/1.1 102 Processing\r\n\r\n", 20))
			}
		}
	})
	tr := newTestH1(4, time.Minute)
	defer tr.CloseIdleConnections()
	if status, body, err := h1Call(t, tr, "GET", url+"/hints", ""); err != nil || status != 200 || body != "ok" {
		t.Errorf("after 1xx responses: %d %q, %v", status, body, err)
	}
	for _, path := range []string{"/upgrade", "/endless"} {
		if _, _, err := h1Call(t, tr, "GET", url+path, ""); err == nil {
			t.Errorf("%s: no error", path)
		}
	}
}

func TestH1CancelUnblocks(t *testing.T) {
	url := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		req, err := readRequest(br)
		if err != nil {
			return
		}
		if req.URL.Path == "/body" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
		}
		io.Copy(io.Discard, c) // then nothing more, until the client gives up
	})
	tr := newTestH1(4, time.Minute)
	defer tr.CloseIdleConnections()
	for _, path := range []string{"/head", "/body"} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		done := make(chan error, 1)
		go func() {
			resp, err := tr.RoundTrip(newRequest(ctx, "GET", mustURL(t, url+path), nil))
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: no error after the cancel", path)
			}
			if path == "/head" && !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v, want context.Canceled", path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still blocked 10s after the cancel", path)
		}
		cancel()
	}
	if n := len(tr.idle); n != 0 {
		t.Errorf("%d cancelled connections pooled", n)
	}
}

func TestH1PoolBounds(t *testing.T) {
	release := make(chan struct{})
	var inside sync.WaitGroup
	srv, cc := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside.Done()
		<-release
		w.Write([]byte(r.URL.Path))
	}))
	tr := newTestH1(3, time.Minute)
	defer tr.CloseIdleConnections()
	const n = 8
	inside.Add(n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			path := fmt.Sprintf("/%d", i)
			_, body, err := h1Call(t, tr, "GET", srv.URL+path, "")
			if err == nil && body != path {
				err = fmt.Errorf("call %s got the answer %q", path, body)
			}
			errs <- err
		}()
	}
	inside.Wait()
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	tr.mu.Lock()
	idle := len(tr.idle)
	tr.mu.Unlock()
	if idle != 3 {
		t.Errorf("%d idle connections kept, want maxIdle 3", idle)
	}
	eventually(t, "the connections beyond maxIdle are closed", func() bool { return cc.closed.Load() == n-3 })
	tr.CloseIdleConnections()
	eventually(t, "CloseIdleConnections closes the rest", func() bool { return cc.closed.Load() == n })
}

func TestH1IdleTimeoutSweep(t *testing.T) {
	srv, cc := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tr := newTestH1(4, 50*time.Millisecond)
	if _, _, err := h1Call(t, tr, "GET", srv.URL, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an idle connection is closed after idleTimeout", func() bool { return cc.closed.Load() == 1 })
}

// Many calls at once over a few connections: each gets the answer to its
// own request (run with -race).
func TestH1ConcurrentCallsGetTheirOwnAnswers(t *testing.T) {
	srv, cc := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s%s", r.URL.Path, body)
	}))
	tr := newTestH1(6, time.Minute)
	defer tr.CloseIdleConnections()
	limited := &limitTransport{next: tr, upstream: "test", slots: make(chan struct{}, 6)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				path, body := fmt.Sprintf("/%d/%d", g, i), ""
				method := "GET"
				if i%2 == 1 {
					method, body = "POST", fmt.Sprintf(`{"g":%d}`, g)
				}
				_, got, err := h1Call(t, limited, method, srv.URL+path, body)
				if err != nil || got != path+body {
					errs <- fmt.Errorf("%s %s: %q, %v", method, path, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := cc.opened.Load(); n > 6 {
		t.Errorf("%d connections opened, more than the 6 calls allowed in flight", n)
	}
}

func TestH1OtherSchemesGoToNext(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s", r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr := newTestH1(4, time.Minute)
	tr.next = srv.Client().Transport
	if _, body, err := h1Call(t, tr, "GET", srv.URL, ""); err != nil || body != "HTTP/2.0" {
		t.Errorf("https call: %q, %v; want net/http's transport (HTTP/2)", body, err)
	}
}

// readRequest reads a request and its body, so that the next one can be
// read from br.
func readRequest(br *bufio.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(br)
	if err == nil {
		_, err = io.Copy(io.Discard, req.Body)
	}
	return req, err
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Response headers are bounded (max_response_bytes counts the body only):
// an upstream sending endless headers, or endless informational responses,
// fails the call instead of filling memory.
func TestH1ResponseHeadIsBounded(t *testing.T) {
	url := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		req, err := readRequest(br)
		if err != nil {
			return
		}
		bw := bufio.NewWriter(c)
		line := strings.Repeat("a", 64<<10)
		for i := range 64 { // 4 MiB
			if req.URL.Path == "/hints" && i < 4 { // four of 320 KiB: fewer than the 1xx cap
				fmt.Fprintf(bw, "HTTP/1.1 103 Early Hints\r\nLink: </%s>\r\n\r\n", strings.Repeat(line, 5))
			} else if req.URL.Path == "/hints" {
				break
			} else if i == 0 {
				fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nX-Big: %s", line)
			} else if _, err := bw.WriteString(line); err != nil {
				return
			}
		}
		bw.WriteString("\r\nContent-Length: 2\r\n\r\nok")
		bw.Flush()
	})
	tr := newTestH1(4, time.Minute)
	defer tr.CloseIdleConnections()
	for _, path := range []string{"/big", "/hints"} {
		_, _, err := h1Call(t, tr, "GET", url+path, "")
		if err == nil || !strings.Contains(err.Error(), "response headers are larger than 1048576 bytes") {
			t.Errorf("%s: %v, want the head refused", path, err)
		}
	}
}

// HEAD and 204 answers have no body whatever their headers say: the
// connection is reused after them.
func TestH1BodilessAnswersKeepTheConnection(t *testing.T) {
	url := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			if req.Method == "HEAD" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nX: y\r\n\r\n") // no length
			} else {
				io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
			}
		}
	})
	var conns atomic.Int32
	tr := newTestH1(4, time.Minute)
	dial := tr.dial
	tr.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conns.Add(1)
		return dial(ctx, network, addr)
	}
	defer tr.CloseIdleConnections()
	for range 3 {
		for _, method := range []string{"HEAD", "DELETE"} {
			if status, _, err := h1Call(t, tr, method, url+"/x", ""); err != nil || status >= 300 {
				t.Fatalf("%s: %d, %v", method, status, err)
			}
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("6 bodiless answers used %d connections, want 1", n)
	}
}

// A request that cannot be written (a header value net/http refuses) fails
// at once: it is not tried on every pooled connection in turn.
func TestH1UnwritableRequestKeepsThePool(t *testing.T) {
	release := make(chan struct{})
	srv, cc := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	tr := newTestH1(4, time.Minute)
	defer tr.CloseIdleConnections()
	var wg sync.WaitGroup
	for range 3 { // three pooled connections
		wg.Go(func() { h1Call(t, tr, "GET", srv.URL, "") })
	}
	eventually(t, "three connections open", func() bool { return cc.opened.Load() == 3 })
	close(release)
	wg.Wait()
	req := newRequest(context.Background(), "GET", mustURL(t, srv.URL), nil)
	req.Header = http.Header{"X-Bad": {"a\nb"}}
	if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "invalid header field value") {
		t.Fatalf("a request net/http cannot write: %v", err)
	}
	if n := cc.opened.Load(); n != 3 {
		t.Errorf("%d connections opened, want still 3", n)
	}
	tr.mu.Lock()
	idle := len(tr.idle)
	tr.mu.Unlock()
	if idle < 2 {
		t.Errorf("%d idle connections left of 3: the failed request went through the pool", idle)
	}
}
