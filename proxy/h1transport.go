package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Transport is the connection pool of a plain-http upstream: an HTTP/1.1
// client that writes each request and reads its response on the calling
// goroutine. net/http's Transport hands every request to two goroutines of
// its connection (a writer and a reader) and back over channels; on a
// sidecar's loopback those hand-offs cost about a tenth of a proxied call's
// CPU and add a scheduling delay to each call. Requests are written and
// responses parsed by net/http itself (Request.Write, ReadResponse): this
// type only keeps connections, and reuses one only when its last response
// ended exactly where its framing said.
//
// Other schemes (https, with HTTP/2) go to next, net/http's Transport.
// Plain-http upstreams are not asked for gzip: they are local or in-cluster
// services, where compressing costs both ends CPU to save nothing.
type h1Transport struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle     int
	idleTimeout time.Duration
	next        http.RoundTripper

	mu       sync.Mutex
	idle     []*h1Conn // the most recently used last
	sweeping bool      // a sweep of stale idle connections is scheduled
}

// h1Conn is one pooled connection. read and written count the bytes of the
// current exchange, and writeErr keeps the connection's own write error, to
// tell whether a failed request reached the upstream. readLimit bounds what
// is read while the response's head is parsed.
type h1Conn struct {
	net.Conn
	peeker
	br        *bufio.Reader
	bw        *bufio.Writer
	addr      string
	idleSince time.Time
	reused    bool
	read      int64
	written   int64
	writeErr  error
	readLimit int64
}

func (c *h1Conn) Read(p []byte) (int, error) {
	if c.readLimit <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > c.readLimit {
		p = p[:c.readLimit]
	}
	n, err := c.Conn.Read(p)
	c.read += int64(n)
	c.readLimit -= int64(n)
	return n, err
}

func (c *h1Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written += int64(n)
	if err != nil {
		c.writeErr = err
	}
	return n, err
}

// maxHeadBytes bounds a response's status line and headers (and those of
// the informational responses before it): max_response_bytes counts the
// body only. net/http's transport allows 10 MiB; no API needs 1.
const maxHeadBytes = 1 << 20

var errHeadTooLarge = fmt.Errorf("the response headers are larger than %d bytes", maxHeadBytes)

// maxH1Body is the largest request body sent through the pool. The pool
// writes the whole request before it reads: a body this small fits in the
// socket buffers even when the upstream answers without reading it (an early
// 401 or 413), which net/http's transport, reading while it writes, then
// still hands over. Larger bodies, and those of unknown length or waiting
// for 100 Continue, go through net/http's transport.
const maxH1Body = 32 << 10

// aLongTimeAgo is a deadline that has passed: setting it on a connection
// unblocks its reads and writes at once.
var aLongTimeAgo = time.Unix(1, 0)

// max1xx bounds the informational responses skipped before the final one.
const max1xx = 5

func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || req.ContentLength > maxH1Body || (req.ContentLength < 0 && req.Body != nil && req.Body != http.NoBody) ||
		req.Header.Get("Expect") != "" {
		return t.next.RoundTrip(req)
	}
	if err := validHeader(req.Header); err != nil {
		closeRequestBody(req)
		return nil, err
	}
	ctx := req.Context()
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	for {
		if err := ctx.Err(); err != nil {
			closeRequestBody(req)
			return nil, err
		}
		pc, err := t.get(ctx, addr)
		if err != nil {
			closeRequestBody(req)
			return nil, err
		}
		resp, err := t.exchange(ctx, pc, req)
		if err == nil {
			return resp, nil
		}
		if !staleConn(pc, req, err) || ctx.Err() != nil {
			closeRequestBody(req)
			return nil, err
		}
		// The upstream closed the connection while it was idle and the
		// request did not reach it (or may be repeated): once more on a
		// new one. get dials when no idle connection is left, and a
		// fresh connection is never retried, so this ends.
		if req, err = rewind(req); err != nil {
			return nil, err
		}
	}
}

// exchange writes req on pc and reads the response's head. The body is read
// by the caller, on the same connection, which goes back to the pool when
// the body has been read to its end.
func (t *h1Transport) exchange(ctx context.Context, pc *h1Conn, req *http.Request) (*http.Response, error) {
	pc.read, pc.written, pc.writeErr, pc.readLimit = 0, 0, nil, maxHeadBytes
	// Cancelling the context (or its deadline) unblocks the connection;
	// nothing runs per call unless it fires.
	stop := context.AfterFunc(ctx, func() { pc.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		pc.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	err := req.Write(pc.bw)
	if err == nil {
		err = pc.bw.Flush()
	}
	if err != nil {
		return fail(err)
	}
	var resp *http.Response
	for n := 0; ; n++ {
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode < 100 {
			break
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return fail(errors.New("the upstream switched protocols (HTTP 101)"))
		}
		if n == max1xx {
			return fail(fmt.Errorf("more than %d informational (1xx) responses", max1xx))
		}
		// An informational response (100 Continue, 103 Early Hints) has
		// no body; the final response follows.
	}
	pc.readLimit = math.MaxInt64 // the body is bounded by the caller
	// A connection is reused only after a response whose end its framing
	// marks: none (HEAD, 204, 304: net/http gives NoBody), a length or
	// chunks, and no Connection: close either way.
	reusable := !resp.Close && !req.Close &&
		(resp.Body == http.NoBody || resp.ContentLength >= 0 || slices.Contains(resp.TransferEncoding, "chunked"))
	if resp.Body == http.NoBody {
		t.release(pc, reusable, stop)
		return resp, nil
	}
	resp.Body = &h1Body{t: t, pc: pc, body: resp.Body, reusable: reusable, stop: stop}
	return resp, nil
}

// h1Body is a response body that hands its connection back when it has been
// read to its end, and closes it when abandoned before that.
type h1Body struct {
	t        *h1Transport
	pc       *h1Conn
	body     io.ReadCloser
	reusable bool
	stop     func() bool
	done     error // once the connection is released: what Read returns
}

var errBodyClosed = errors.New("read on a closed response body")

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done != nil {
		return 0, b.done
	}
	n, err := b.body.Read(p)
	if err != nil {
		b.done = err
		b.t.release(b.pc, b.reusable && err == io.EOF, b.stop)
	}
	return n, err
}

func (b *h1Body) Close() error {
	if b.done == nil {
		// Not read to its end: what is left of it is on the connection.
		b.done = errBodyClosed
		b.t.release(b.pc, false, b.stop)
	}
	return nil
}

// release ends an exchange: pc goes back to the pool if it may carry
// another, and is closed otherwise.
func (t *h1Transport) release(pc *h1Conn, reusable bool, stop func() bool) {
	// If the context's func has run, the connection's deadline is in the
	// past. Bytes the upstream sent beyond its response are not ours to
	// read as the next one's start.
	if !stop() || !reusable || pc.br.Buffered() > 0 {
		pc.Close()
		return
	}
	pc.idleSince = time.Now()
	t.mu.Lock()
	if len(t.idle) >= t.maxIdle {
		t.idle[0].Close()
		t.idle = slices.Delete(t.idle, 0, 1)
	}
	t.idle = append(t.idle, pc)
	if !t.sweeping {
		t.sweeping = true
		time.AfterFunc(t.idleTimeout, t.sweep)
	}
	t.mu.Unlock()
}

// get returns an idle connection to addr that is still open, or a new one.
func (t *h1Transport) get(ctx context.Context, addr string) (*h1Conn, error) {
	for {
		pc := t.takeIdle(addr)
		if pc == nil {
			break
		}
		if time.Since(pc.idleSince) < t.idleTimeout && pc.connAlive() {
			pc.reused = true
			return pc, nil
		}
		pc.Close()
	}
	nc, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	pc := &h1Conn{Conn: nc, addr: addr}
	pc.init(nc)
	pc.br = bufio.NewReaderSize(pc, 4<<10)
	pc.bw = bufio.NewWriterSize(pc, 4<<10)
	return pc, nil
}

func (t *h1Transport) takeIdle(addr string) *h1Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.idle) - 1; i >= 0; i-- {
		if pc := t.idle[i]; pc.addr == addr {
			t.idle = slices.Delete(t.idle, i, i+1)
			return pc
		}
	}
	return nil
}

// sweep closes the connections idle for longer than idleTimeout, and comes
// back while some remain.
func (t *h1Transport) sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	t.idle = slices.DeleteFunc(t.idle, func(pc *h1Conn) bool {
		if now.Sub(pc.idleSince) >= t.idleTimeout {
			pc.Close()
			return true
		}
		return false
	})
	t.sweeping = len(t.idle) > 0
	if t.sweeping {
		time.AfterFunc(t.idleTimeout/2, t.sweep)
	}
}

// CloseIdleConnections closes the idle connections; those in use are closed
// or pooled when their calls end.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, pc := range idle {
		pc.Close()
	}
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// validHeader refuses what net/http's transport refuses: Request.Write
// alone would turn a newline into a space and pass other control
// characters on. The value is not shown: it may be a secret.
func validHeader(h http.Header) error {
	for k, vs := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("invalid header field name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("invalid header field value for %q", k)
			}
		}
	}
	return nil
}

// staleConn reports whether err is a pooled connection found closed by the
// upstream, in a way that makes sending req again safe: nothing of it was
// written, or it may be repeated and nothing came back.
func staleConn(pc *h1Conn, req *http.Request, err error) bool {
	if !pc.reused {
		return false
	}
	if pc.written == 0 {
		// Only if the connection refused the write: a request that
		// could not be written at all (a body that fails to read) fails
		// the same way on any connection.
		return pc.writeErr != nil
	}
	if pc.read > 0 || !replayable(req) {
		return false
	}
	// ReadResponse reports an end of stream before the status line as
	// io.ErrUnexpectedEOF.
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// replayable reports whether req may be sent twice (RFC 9110 9.2.2, and the
// Idempotency-Key convention), as net/http decides.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// rewind returns req ready to be sent again, with a fresh body.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("the request body cannot be sent again")
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r := *req
	r.Body = body
	return &r, nil
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
