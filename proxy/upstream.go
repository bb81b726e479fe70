package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/api2mcp/api2mcp/configs"
	"github.com/api2mcp/api2mcp/mapping"
)

// upstreamClient sends mapped requests to one upstream.
type upstreamClient struct {
	cfg       *configs.Upstream
	rt        http.RoundTripper                   // the chain: retries, breaker, limit, pool
	origin    string                              // scheme://host of the upstream: redirects stay there
	transport interface{ CloseIdleConnections() } // the pool at the end of the chain
	userAgent []string                            // the User-Agent header's value
	tracing   *tracing
	// baseParams are the query parameters of the upstream's URL (often an
	// API key); a mapped query may not set them again.
	baseParams url.Values
	// userToken returns the calling user's provider token, for an upstream
	// with auth type user_token; nil otherwise.
	userToken func(ctx context.Context) (string, error)
}

// defaultAccept is the Accept header of upstream requests that map none.
// Header values are shared by requests and never modified.
var defaultAccept = []string{"application/json, text/*;q=0.9, */*;q=0.8"}

// maxIdleConnsPerHost bounds the idle connections kept to one upstream.
const maxIdleConnsPerHost = 64

func newUpstreamClient(u *configs.Upstream, userAgent string, log *slog.Logger, tracing *tracing) *upstreamClient {
	dial := (&net.Dialer{Timeout: u.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dial
	tr.MaxIdleConnsPerHost = min(maxIdleConnsPerHost, u.MaxConcurrent)
	tr.MaxIdleConns = tr.MaxIdleConnsPerHost * 2
	tr.MaxConnsPerHost = u.MaxConcurrent
	tr.ResponseHeaderTimeout = u.Timeout
	tr.Proxy = nil // an internal API is reached directly, never via HTTP_PROXY
	// Plain http goes through api2mcp's own pool, https through net/http's.
	// The concurrency limit in the chain bounds the connections of both:
	// one per request in flight.
	pool := &h1Transport{dial: dial, maxIdle: tr.MaxIdleConnsPerHost, idleTimeout: tr.IdleConnTimeout, next: tr}
	base, _ := url.ParseQuery(u.URL.RawQuery)
	return &upstreamClient{
		cfg:        u,
		rt:         upstreamChain(u, pool, log),
		origin:     u.URL.Scheme + "://" + u.URL.Host,
		userAgent:  []string{userAgent},
		baseParams: base,
		transport:  pool,
		tracing:    tracing,
	}
}

// upstreamChain assembles the upstream decorators, outermost first:
// retry → circuit breaker → concurrency limit → connection pool. Retries
// are outermost so that every attempt is seen by the breaker and takes its
// own concurrency slot (a retry waiting out its backoff holds none); the
// breaker comes before the limit so that an open circuit fails at once
// instead of queueing for a slot.
func upstreamChain(u *configs.Upstream, tr http.RoundTripper, log *slog.Logger) http.RoundTripper {
	rt := tr
	rt = &limitTransport{next: rt, upstream: u.Name, slots: make(chan struct{}, u.MaxConcurrent)}
	if u.BreakerFailures > 0 {
		rt = &breakerTransport{next: rt, upstream: u.Name, failures: u.BreakerFailures, openFor: u.BreakerOpenFor, now: time.Now, log: log}
	}
	if u.Retries > 0 {
		rt = &retryTransport{next: rt, retries: u.Retries, backoff: u.RetryBackoff, jitter: defaultJitter}
	}
	return rt
}

// response is an upstream answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// callError is a failed upstream call, described without the URL (which may
// hold a secret) in words an agent can act on.
type callError struct{ msg string }

func (e *callError) Error() string { return e.msg }

// do sends r with the upstream's credentials and the allow-listed client
// headers, and reads the response up to the size cap.
func (c *upstreamClient) do(ctx context.Context, r *mapping.Request, clientHeader http.Header, cred *configs.Credential) (*response, error) {
	u := *c.cfg.URL
	u.Path += pathUnescaped(r.Path)
	u.RawPath = c.cfg.URL.EscapedPath() + r.Path
	switch {
	case u.RawQuery == "":
		u.RawQuery = r.Query
	case r.Query != "":
		// Servers differ on which of two values wins: a mapping (say an
		// exploded object from the model) must not repeat a parameter the
		// upstream URL sets.
		mapped, _ := url.ParseQuery(r.Query)
		for name := range mapped {
			if _, ok := c.baseParams[name]; ok {
				return nil, &callError{msg: fmt.Sprintf("the request would set query parameter %q, which upstream %s sets in its URL", name, c.cfg.Name)}
			}
		}
		u.RawQuery += "&" + r.Query
	}
	if cred != nil && len(cred.Query) > 0 {
		// The tool's credential (an OpenAPI apiKey in the query) must not be
		// set by the mapping too.
		mapped, _ := url.ParseQuery(r.Query)
		for name := range cred.Query {
			if _, ok := mapped[name]; ok {
				return nil, &callError{msg: fmt.Sprintf("the request would set query parameter %q, which the upstream credential sets", name)}
			}
		}
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += cred.Query.Encode()
	}
	// The timeout bounds the whole call: every attempt, the waits between
	// them, a wait for a concurrency slot and reading the body. A context
	// deadline rather than http.Client.Timeout, which would replace the
	// cause of a failure with its own message.
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	// The span is started first so that the request is made once, with
	// its context.
	ctx, span := c.tracing.startUpstream(ctx, r.Method, c.cfg.Name, u.Hostname())
	defer span.End()
	req := newRequest(ctx, r.Method, &u, r.Body)
	req.Header = make(http.Header, len(r.Header)+len(c.cfg.Header)+4)
	for k, v := range r.Header {
		req.Header[k] = v
	}
	for _, k := range c.cfg.ForwardHeaders {
		if v, ok := clientHeader[k]; ok {
			req.Header[k] = v
		}
	}
	if r.ContentType != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", r.ContentType) // a mapped Content-Type wins
	}
	if req.Header.Get("Accept") == "" {
		req.Header["Accept"] = defaultAccept
	}
	req.Header["User-Agent"] = c.userAgent
	if id := clientHeader["X-Request-Id"]; len(id) > 0 && id[0] != "" {
		req.Header["X-Request-Id"] = id[:1:1] // set by requestID: a plain token
	}
	for k, v := range c.cfg.Header {
		req.Header[k] = v
	}
	if cred != nil {
		for k, v := range cred.Header {
			req.Header[k] = v
		}
		if len(cred.Cookies) > 0 {
			cookies := strings.Join(cred.Cookies, "; ")
			if prev := req.Header.Get("Cookie"); prev != "" {
				cookies = prev + "; " + cookies
			}
			req.Header.Set("Cookie", cookies)
		}
	}
	var userToken string
	if c.userToken != nil {
		var err error
		userToken, err = c.userToken(ctx)
		if err != nil {
			return nil, &callError{msg: fmt.Sprintf("upstream %s needs your own login: %v", c.cfg.Name, err)}
		}
		req.Header["Authorization"] = []string{"Bearer " + userToken}
	}
	if ui := c.cfg.URL.User; ui != nil && req.Header.Get("Authorization") == "" {
		// As http.Client: credentials in the upstream's URL are sent as
		// basic authentication.
		pw, _ := ui.Password()
		req.SetBasicAuth(ui.Username(), pw)
	}
	c.tracing.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := c.send(req)
	if err != nil {
		span.SetStatus(codes.Error, "transport error")
		return nil, c.describe(ctx, err)
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "" {
		// CheckRedirect stopped it: the target is not shown, it may be
		// anywhere.
		return nil, &callError{msg: fmt.Sprintf("upstream %s answered HTTP %d with a redirect to another origin (or one too many); it was not followed", c.cfg.Name, resp.StatusCode)}
	}
	limit := c.cfg.MaxResponseBytes
	if resp.ContentLength > limit {
		return nil, &callError{msg: fmt.Sprintf("upstream %s announced a response of %d bytes, more than %d (max_response_bytes)", c.cfg.Name, resp.ContentLength, limit)}
	}
	data, err := readAtMost(resp.Body, resp.ContentLength, limit)
	if err != nil {
		return nil, c.describe(ctx, err)
	}
	if int64(len(data)) > limit {
		return nil, &callError{msg: fmt.Sprintf("upstream %s sent a response larger than %d bytes (max_response_bytes)", c.cfg.Name, limit)}
	}
	if userToken != "" && len(userToken) >= 8 && bytes.Contains(data, []byte(userToken)) {
		// The user's token is a secret like the configured ones: an
		// upstream that echoes it must not hand it to the agent.
		data = bytes.ReplaceAll(data, []byte(userToken), []byte("[redacted]"))
	}
	if userToken != "" {
		// Response expressions can read headers too.
		for k, vs := range resp.Header {
			for i, v := range vs {
				if strings.Contains(v, userToken) {
					resp.Header[k][i] = strings.ReplaceAll(v, userToken, "[redacted]")
				}
			}
		}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// maxRedirects bounds the redirects followed for one call.
const maxRedirects = 5

// send sends req through the chain and follows the upstream's redirects
// within its origin: a redirect elsewhere would carry its credentials to a
// stranger, so it is returned as the answer (and reported by do). This is
// what http.Client would do with such a CheckRedirect, without copying the
// request's headers for redirects that almost never come.
func (c *upstreamClient) send(req *http.Request) (*http.Response, error) {
	for n := 0; ; n++ {
		resp, err := c.rt.RoundTrip(req)
		if err != nil || n == maxRedirects {
			return resp, err
		}
		next, ok := c.redirect(req, resp)
		if !ok {
			return resp, nil
		}
		// Drain a little so that the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 2<<10)
		resp.Body.Close()
		req = next
	}
}

// redirect returns the request that follows resp, a redirect to the
// upstream's origin that can be followed. Methods change as RFC 9110 15.4
// and the Fetch standard say: a POST meeting 301 or 302, and anything but
// GET or HEAD meeting 303, becomes a GET without a body; otherwise the
// method and body are sent again.
func (c *upstreamClient) redirect(req *http.Request, resp *http.Response) (*http.Request, bool) {
	method, keepBody := req.Method, true
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound:
		if method == http.MethodPost {
			method, keepBody = http.MethodGet, false
		}
	case http.StatusSeeOther:
		if method != http.MethodHead {
			method = http.MethodGet
		}
		keepBody = false
	case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return nil, false
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, false
	}
	target, err := req.URL.Parse(loc)
	if err != nil || target.Scheme+"://"+target.Host != c.origin {
		return nil, false
	}
	next, _ := http.NewRequestWithContext(req.Context(), method, "", nil)
	next.URL, next.Host = target, req.Host
	next.Header = req.Header.Clone()
	switch {
	case !keepBody:
		next.Header.Del("Content-Type")
	case req.ContentLength != 0:
		if req.GetBody == nil {
			return nil, false // a body that cannot be sent again
		}
		body, err := req.GetBody()
		if err != nil {
			return nil, false
		}
		next.Body, next.GetBody, next.ContentLength = body, req.GetBody, req.ContentLength
	}
	return next, true
}

// newRequest is http.NewRequestWithContext for a URL already parsed (the
// upstream's, with the mapped path and query added), without formatting and
// parsing it again. method is a valid method (checked at load).
func newRequest(ctx context.Context, method string, u *url.URL, body []byte) *http.Request {
	// An empty URL parses at no cost; the request gets its context there.
	req, _ := http.NewRequestWithContext(ctx, method, "", nil)
	req.URL = u
	req.Host = strings.TrimSuffix(u.Host, ":") // as NewRequest: no empty port
	if body != nil {
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		if len(body) == 0 {
			// As NewRequest: an empty body is no body.
			req.Body = http.NoBody
			req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		}
	}
	return req
}

// pathUnescaped decodes an escaped path for url.URL.Path; RawPath keeps the
// exact escaping.
func pathUnescaped(p string) string {
	s, err := url.PathUnescape(p)
	if err != nil {
		return p
	}
	return s
}

// describe turns a transport error into a message without URLs.
func (c *upstreamClient) describe(ctx context.Context, err error) error {
	name := c.cfg.Name
	var ne net.Error
	var dnsErr *net.DNSError
	var open *circuitOpenError
	switch {
	case errors.As(err, &open):
		return &callError{msg: open.Error()}
	case errors.As(err, new(*noSlotError)):
		return &callError{msg: fmt.Sprintf("upstream %s is busy: no free slot (max_concurrent %d) within %s", name, c.cfg.MaxConcurrent, c.cfg.Timeout)}
	case isDialTimeout(err):
		return &callError{msg: fmt.Sprintf("could not connect to upstream %s within %s (connect_timeout)", name, c.cfg.ConnectTimeout)}
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		return &callError{msg: "the call was cancelled"}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &callError{msg: fmt.Sprintf("upstream %s did not answer within %s", name, c.cfg.Timeout)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &callError{msg: fmt.Sprintf("could not connect to upstream %s: connection refused", name)}
	case errors.As(err, &dnsErr):
		return &callError{msg: fmt.Sprintf("could not resolve the host of upstream %s", name)}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &callError{msg: fmt.Sprintf("upstream %s closed the connection before answering in full", name)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if strings.Contains(msg, "://") {
		msg = "transport error"
	}
	return &callError{msg: fmt.Sprintf("upstream %s request failed: %s", name, msg)}
}

// isDialTimeout reports whether err is a connection attempt that timed out.
func isDialTimeout(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && op.Timeout()
}

// closeIdle releases idle connections.
func (c *upstreamClient) closeIdle() { c.transport.CloseIdleConnections() }
