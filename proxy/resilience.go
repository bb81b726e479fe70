package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The upstream concerns below are http.RoundTripper decorators; the chain is
// assembled in newUpstreamClient.

var (
	_ http.RoundTripper = (*retryTransport)(nil)
	_ http.RoundTripper = (*breakerTransport)(nil)
	_ http.RoundTripper = (*limitTransport)(nil)
)

// maxBackoff caps one wait between retries.
const maxBackoff = 5 * time.Second

// retryTransport retries idempotent requests (GET, HEAD, OPTIONS, PUT,
// DELETE, or any with an Idempotency-Key) after a connection error, a
// 502/503/504, or a 429 that says when (Retry-After), with exponential
// backoff and full jitter. It never waits past the request's deadline:
// a wait that would end after it returns the last answer instead.
type retryTransport struct {
	next    http.RoundTripper
	retries int
	backoff time.Duration
	jitter  func() float64 // in [0, 1); rand.Float64 outside tests
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.retries == 0 || !retryable(req) {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	r := req
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			r = req.Clone(ctx)
			if req.Body != nil && req.Body != http.NoBody {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				r.Body = body
			}
		}
		resp, err := t.next.RoundTrip(r)
		if attempt >= t.retries {
			return resp, err
		}
		wait, again := t.shouldRetry(ctx, resp, err, attempt)
		if !again {
			return resp, err
		}
		if resp != nil {
			// Drain a little so that the connection can be reused, then
			// let it go.
			_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
			resp.Body.Close()
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// retryable reports whether repeating req is safe and possible.
func retryable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get("Idempotency-Key") != ""
}

// shouldRetry decides whether an attempt's outcome is worth another, and
// after how long.
func (t *retryTransport) shouldRetry(ctx context.Context, resp *http.Response, err error, attempt int) (time.Duration, bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	var wait time.Duration
	switch {
	case err != nil:
		var open *circuitOpenError
		if errors.As(err, &open) {
			return 0, false
		}
	case resp.StatusCode == http.StatusBadGateway, resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		wait, _ = retryAfter(resp.Header, time.Now())
	case resp.StatusCode == http.StatusTooManyRequests:
		d, ok := retryAfter(resp.Header, time.Now())
		if !ok {
			return 0, false
		}
		wait = d
	default:
		return 0, false
	}
	backoff := min(t.backoff<<attempt, maxBackoff)
	wait = max(wait, time.Duration(t.jitter()*float64(backoff)))
	if deadline, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(deadline) {
		return 0, false
	}
	return wait, true
}

// retryAfter parses Retry-After: delay seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// circuitOpenError is a call refused because the upstream's circuit is
// open.
type circuitOpenError struct {
	upstream string
	retryIn  time.Duration
}

func (e *circuitOpenError) Error() string {
	return fmt.Sprintf("upstream %s is failing; calls are paused (circuit open), retry in %d seconds", e.upstream, retrySeconds(e.retryIn))
}

type breakerState int

const (
	closed breakerState = iota
	open
	halfOpen
)

// upstreamDown reports whether a status says the upstream (or the gateway
// before it) is unavailable. A 500 is not counted: it is usually one
// request's problem, and arguments come from agents, who must not be able
// to open the circuit for everyone with a request that breaks.
func upstreamDown(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// breakerTransport fails requests at once while its upstream is down.
// After failures consecutive failures (a connection error, a timeout, or a
// 502/503/504; a cancelled call counts for nothing) it opens for openFor; then one probe
// request is let through (half-open): success closes it, failure opens it
// again. An answer counts when its headers arrive.
type breakerTransport struct {
	next     http.RoundTripper
	upstream string
	failures int
	openFor  time.Duration
	now      func() time.Time
	log      *slog.Logger // nil: no log

	mu       sync.Mutex
	state    breakerState
	failed   int
	openedAt time.Time
	probing  bool
}

func (b *breakerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := b.admit(); err != nil {
		return nil, err
	}
	resp, err := b.next.RoundTrip(req)
	b.record(req.Context(), resp, err)
	return resp, err
}

func (b *breakerTransport) admit() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case open:
		if left := b.openFor - b.now().Sub(b.openedAt); left > 0 {
			return &circuitOpenError{upstream: b.upstream, retryIn: left}
		}
		b.state = halfOpen
		fallthrough
	case halfOpen:
		if b.probing {
			return &circuitOpenError{upstream: b.upstream, retryIn: time.Second}
		}
		b.probing = true
	}
	return nil
}

func (b *breakerTransport) record(ctx context.Context, resp *http.Response, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	wasProbe := b.state == halfOpen
	if wasProbe {
		b.probing = false
	}
	switch {
	case err != nil && (errors.Is(ctx.Err(), context.Canceled) || errors.As(err, new(*noSlotError))):
		// Cancelled by the caller, or never sent: says nothing about the
		// upstream, and the next call may probe.
		return
	case err == nil && !upstreamDown(resp.StatusCode):
		if b.state != closed && b.log != nil {
			b.log.Info("circuit_closed", slog.String("upstream", b.upstream))
		}
		b.state, b.failed = closed, 0
		return
	}
	b.failed++
	if wasProbe || (b.state == closed && b.failed >= b.failures) {
		if b.log != nil {
			b.log.Warn("circuit_open", slog.String("upstream", b.upstream), slog.Int("failures", b.failed), slog.Duration("open_for", b.openFor))
		}
		b.state, b.openedAt = open, b.now()
	}
}

// limitTransport caps the requests in flight, from sending until the
// response body is closed. A request waits for a slot as long as its
// context allows.
type limitTransport struct {
	next     http.RoundTripper
	upstream string
	slots    chan struct{}
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case t.slots <- struct{}{}:
	default:
		// No free slot: wait (the context's Done channel is made only
		// when some call has to wait).
		select {
		case t.slots <- struct{}{}:
		case <-req.Context().Done():
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, &noSlotError{upstream: t.upstream, err: req.Context().Err()}
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		<-t.slots
		return nil, err
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, slots: t.slots}
	return resp, nil
}

// noSlotError is a request that ran out of time waiting for a concurrency
// slot: a sign of our own queue, not of the upstream failing, so the breaker
// does not count it.
type noSlotError struct {
	upstream string
	err      error
}

func (e *noSlotError) Error() string {
	return fmt.Sprintf("no free connection to upstream %s in time (max_concurrent)", e.upstream)
}

func (e *noSlotError) Unwrap() error { return e.err }

// releaseBody frees a concurrency slot when the body is closed.
type releaseBody struct {
	io.ReadCloser
	slots    chan struct{}
	released atomic.Bool
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	if b.released.CompareAndSwap(false, true) {
		<-b.slots
	}
	return err
}

func defaultJitter() float64 { return rand.Float64() }
