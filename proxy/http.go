package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/api2mcp/api2mcp/authn"
	"github.com/api2mcp/api2mcp/configs"
)

// readHeaderTimeout bounds how long a client may take to send its headers.
const readHeaderTimeout = 10 * time.Second

// Handler returns the HTTP handler: /mcp (Streamable HTTP), /sse (legacy
// HTTP+SSE), /healthz and /readyz. streams is the lifetime of long-lived
// streams (SSE and stateful GET): when it is done they end, so that a
// graceful shutdown is not held open by idle listeners.
func (s *Server) Handler(streams context.Context) http.Handler {
	srv := s.cfg.Server
	getServer := func(*http.Request) *mcp.Server { return s.mcp }
	opts := &mcp.StreamableHTTPOptions{
		Stateless:                    !srv.Stateful,
		JSONResponse:                 !srv.Stateful,
		Logger:                       s.log,
		SessionTimeout:               srv.SessionTimeout,
		MaxRequestBodyBytes:          srv.MaxRequestBytes,
		PropagateRequestCancellation: true,
		// checkHost does the SDK's localhost check, and also accepts the
		// hosts a reverse proxy on this machine forwards.
		DisableLocalhostProtection: true,
	}
	var streamable http.Handler = mcp.NewStreamableHTTPHandler(getServer, opts)
	if !srv.Stateful {
		// Stateless requests are answered with one JSON body, which cannot
		// carry progress notifications: a request that asks for progress
		// is answered as an event stream instead.
		withEvents := *opts
		withEvents.JSONResponse = false
		streamable = byProgress(streamable, mcp.NewStreamableHTTPHandler(getServer, &withEvents))
	}
	sse := mcp.NewSSEHandler(getServer, &mcp.SSEOptions{MaxRequestBodyBytes: srv.MaxRequestBytes, DisableLocalhostProtection: true})

	mux := http.NewServeMux()
	for _, p := range s.auth.MetadataPaths() {
		mux.Handle(p, s.auth.MetadataHandler())
	}
	// The built-in authorization server's endpoints: public (outside the
	// front door), limited per client address, answered only under an
	// accepted Host.
	for p, h := range s.auth.Routes() {
		mux.Handle(p, s.limitClients(requestID(s.checkHost(h))))
	}
	mux.Handle("/mcp", s.mcpChain(streamBound(streams, s.fastCall(s.linkRequest(streamable)))))
	mux.Handle("/sse", s.mcpChain(s.bindSSE(streamBound(streams, s.linkRequest(sse)))))
	s.probes(mux)
	if srv.MetricsListen == "" {
		mux.Handle("GET /metrics", s.metrics.handler())
	}
	return mux
}

// probes adds /healthz (alive) and /readyz (config loaded, tools
// registered; 503 while shutting down) to mux.
func (s *Server) probes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "tools": len(s.state.Load().tools)})
	})
}

// AdminHandler serves /metrics, /healthz and /readyz, for a private admin
// listener (server.metrics_listen).
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	s.probes(mux)
	mux.Handle("GET /metrics", s.metrics.handler())
	return mux
}

// mcpChain wraps an MCP endpoint, outermost first:
//
//  1. client-address rate limit: a flood is turned away at the cheapest
//     point, before anything is read (429);
//  2. request id: every response and log line of the request carries it;
//  3. Host and Origin checks: a rebound name or a foreign page learns
//     nothing, not even whether it would need a token, and CORS preflights
//     (which carry no credentials) are answered here;
//  4. front door (authn): no body is read for a caller who is not
//     authenticated, and identity headers sent by the client are removed;
//  5. body check: bounded and checked to be JSON, so that oversized and
//     malformed messages get JSON-RPC errors (the SDK answers them in plain
//     text);
//  6. session cap: only valid, authenticated requests may open a session;
//  7. per-tool scopes: a tools/call the token lacks scopes for gets the
//     403 step-up challenge; it needs the identity (4) and the body (5);
//  8. identity handed to the SDK (req.Extra.TokenInfo), so that nothing
//     above depends on the SDK's view of it.
//
// Inside it, /mcp has the stateless tools/call fast path (fastCall), and
// linkRequest comes just before the SDK (in Handler), so that only requests
// that reach the SDK are registered: the fast path runs the tool handler on
// the request's own context, which needs no link.
func (s *Server) mcpChain(h http.Handler) http.Handler {
	return s.limitClients(requestID(s.checkHost(s.checkOrigin(s.auth.Middleware(s.checkBody(s.capSessions(s.toolScopes(s.sdkIdentity(h)))))))))
}

// requestLinkHeader carries, from linkRequest to the tool handler, the id
// under which a POST's context is registered. A client's own value is
// dropped.
const requestLinkHeader = "X-Api2mcp-Request-Link"

// linkRequest registers each POST's context so that the tool handler can
// stop its upstream call when the client goes away. The SDK ties the
// handler to the HTTP request only for protocol 2026-07-28; for older
// versions the POST carrying a tools/call is its whole life as well (its
// answer can be delivered nowhere else: no event store is kept), so the
// same holds.
func (s *Server) linkRequest(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del(requestLinkHeader)
		if r.Method != http.MethodPost {
			h.ServeHTTP(w, r)
			return
		}
		id := strconv.FormatUint(s.linkSeq.Add(1), 36)
		s.links.Store(id, r.Context())
		defer s.links.Delete(id)
		r.Header.Set(requestLinkHeader, id)
		h.ServeHTTP(w, r)
	})
}

// linkedContext returns ctx, cancelled also when the HTTP request that
// carried the call ends.
func (s *Server) linkedContext(ctx context.Context, header http.Header) (context.Context, context.CancelFunc) {
	id := header.Get(requestLinkHeader)
	if id == "" {
		return ctx, func() {}
	}
	v, ok := s.links.Load(id)
	if !ok {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(v.(context.Context), cancel)
	return ctx, func() { stop(); cancel() }
}

// requestID gives every request an id: the client's X-Request-Id when it
// is a plain token, a random one otherwise. It is echoed in the response,
// logged with each tool call and sent upstream, so one request can be
// followed through the logs of all three.
func requestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !plainRequestID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
			r.Header["X-Request-Id"] = []string{id} // canonical key: no Set
		}
		w.Header()["X-Request-Id"] = []string{id}
		h.ServeHTTP(w, r)
	})
}

// plainRequestID reports whether id matches ^[A-Za-z0-9._:-]{1,128}$.
func plainRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// checkHost refuses requests that arrive over loopback with a Host that is
// not a local name, public_url's host or an allowed host: a page on a
// rebound DNS name must not reach a server listening on localhost.
func (s *Server) checkHost(h http.Handler) http.Handler {
	allowed := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	if u, err := url.Parse(s.cfg.Server.PublicURL); err == nil && u.Host != "" {
		allowed[strings.ToLower(u.Host)] = true
		allowed[strings.ToLower(u.Hostname())] = true
	}
	for _, a := range s.cfg.Server.AllowedHosts {
		allowed[strings.ToLower(a)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
				host := strings.ToLower(r.Host)
				name := host
				if hn, _, err := net.SplitHostPort(host); err == nil {
					name = hn
				}
				if !allowed[host] && !allowed[strings.Trim(name, "[]")] {
					writeRPCError(w, http.StatusForbidden, -32600, "host not allowed")
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// capSessions refuses a request that would open a session (no
// Mcp-Session-Id, stateful mode) when max_sessions are open.
func (s *Server) capSessions(h http.Handler) http.Handler {
	if !s.cfg.Server.Stateful {
		return h
	}
	limit := s.cfg.Server.MaxSessions
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Header.Get("Mcp-Session-Id") == "" {
			n := 0
			for range s.mcp.Sessions() {
				n++
			}
			if n >= limit {
				w.Header().Set("Retry-After", "5")
				writeRPCError(w, http.StatusServiceUnavailable, -32000, fmt.Sprintf("the server holds its maximum of %d sessions", limit))
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// checkedBody is a POST body read and checked by checkBody: a reader for
// the handlers below it, and the bytes for the checks that need them
// (bodyOf). Carried as the request's Body, it costs one allocation, where a
// context value would copy the request too.
type checkedBody struct {
	bytes.Reader
	b []byte
	// call is the body read as a plain tools/call (parseCall), when it is
	// one (isCall).
	call   callEnvelope
	isCall bool
}

func (*checkedBody) Close() error { return nil }

// bodyOf returns the body checkBody read: valid JSON of at most
// max_request_bytes.
func bodyOf(r *http.Request) ([]byte, bool) {
	if cb, ok := r.Body.(*checkedBody); ok {
		return cb.b, true
	}
	return nil, false
}

// callOf returns the body checkBody read as a plain tools/call
// (parseCall), if it is one.
func callOf(r *http.Request) (callEnvelope, bool) {
	if cb, ok := r.Body.(*checkedBody); ok && cb.isCall {
		return cb.call, true
	}
	return callEnvelope{}, false
}

// checkBody reads a POST body up to the request limit and answers 413 or a
// JSON-RPC parse error (-32700) before the SDK sees it.
func (s *Server) checkBody(h http.Handler) http.Handler {
	limit := s.cfg.Server.MaxRequestBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			h.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > limit {
			writeRPCError(w, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("request body exceeds %d bytes", limit))
			return
		}
		body, err := readAtMost(r.Body, r.ContentLength, limit)
		if err != nil {
			writeRPCError(w, http.StatusBadRequest, -32700, "reading the request body failed")
			return
		}
		if int64(len(body)) > limit {
			writeRPCError(w, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("request body exceeds %d bytes", limit))
			return
		}
		// A plain tools/call is read once, here: parseCall accepts only
		// valid JSON. Anything else is checked to be JSON.
		call, isCall := parseCall(body)
		if !isCall && !json.Valid(body) {
			writeRPCError(w, http.StatusBadRequest, -32700, "parse error: the request body is not valid JSON")
			return
		}
		cb := &checkedBody{b: body, call: call, isCall: isCall}
		cb.Reset(body)
		r.Body = cb
		h.ServeHTTP(w, r)
	})
}

// maxPrealloc bounds the buffer readAtMost makes before any byte arrives:
// an announced length is a promise, and a peer must not make the server
// hold megabytes by announcing them.
const maxPrealloc = 64 << 10

// readAtMost reads r to its end, or to limit+1 bytes (so that the caller
// can tell an oversized body). size is the announced length (-1: unknown):
// the buffer is made to fit it at once (up to maxPrealloc). A body of
// unknown length (chunked) is read into a pooled buffer and copied out at
// its size, where growing one from 512 bytes, as io.ReadAll does, would
// allocate about four times the body.
func readAtMost(r io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 {
		bp := scratch.Get().(*[]byte)
		b, err := readInto((*bp)[:0], r, limit)
		if err != nil || int64(len(b)) > limit || cap(b) > maxScratch {
			// A failure or an oversized body is only looked at and
			// dropped, and a buffer this large is not kept: b is given
			// away, not copied.
			return b, err
		}
		out := bytes.Clone(b)
		*bp = b[:0]
		scratch.Put(bp)
		return out, nil
	}
	if size > limit {
		size = 511
	}
	return readInto(make([]byte, 0, min(size, maxPrealloc)+1), r, limit) // +1: the read that meets EOF needs room
}

// scratch holds the buffers readAtMost reads bodies of unknown length into.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// maxScratch bounds the buffers kept in scratch: a rare huge body's buffer
// is left to the collector rather than held.
const maxScratch = 1 << 20

// readInto appends r to b up to limit+1 bytes, growing b as needed.
func readInto(b []byte, r io.Reader, limit int64) ([]byte, error) {
	for int64(len(b)) <= limit {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):min(int64(cap(b)), limit+1)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// byProgress sends POSTs whose body asks for progress (a progressToken in
// _meta) to events, the others to plain.
func byProgress(plain, events http.Handler) http.Handler {
	token := []byte(`"progressToken"`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, ok := bodyOf(r); ok && bytes.Contains(body, token) {
			events.ServeHTTP(w, r)
			return
		}
		plain.ServeHTTP(w, r)
	})
}

func writeRPCError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{
		"jsonrpc": "2.0",
		"id":      nil,
		"error":   map[string]any{"code": code, "message": msg},
	})
}

// streamBound ends a request's context when streams is done, so that
// long-lived streams close at shutdown.
func streamBound(streams context.Context, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			stop := context.AfterFunc(streams, cancel)
			defer stop()
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(w, r)
	})
}

// checkOrigin rejects browser requests from foreign origins (403) and answers
// CORS for the allowed ones. Requests without Origin (non-browser clients)
// pass; DNS rebinding is also caught by the SDK's localhost Host check.
func (s *Server) checkOrigin(h http.Handler) http.Handler {
	allowed := s.cfg.Server.AllowedOrigins
	anyOrigin := slices.Contains(allowed, "*")
	var public string
	if s.cfg.Server.PublicURL != "" {
		if u, err := url.Parse(s.cfg.Server.PublicURL); err == nil {
			public = u.Scheme + "://" + u.Host
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			h.ServeHTTP(w, r)
			return
		}
		ok := anyOrigin || origin == public || slices.Contains(allowed, origin) || sameHost(origin, r.Host)
		if !ok {
			writeRPCError(w, http.StatusForbidden, -32600, "origin not allowed")
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Add("Vary", "Origin")
		w.Header().Set("Access-Control-Expose-Headers", "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// sameHost reports whether origin names the host the request was sent to.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve serves HTTP on ln until ctx is done, then shuts down gracefully:
// readiness turns off, new connections are refused, in-flight tool calls get
// up to the configured shutdown timeout to finish, then streams close.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// The listen address may come from a flag, after the config was
	// checked: check the address actually bound.
	if s.auth.Mode() == authn.ModeNone && !configs.IsLoopback(ln.Addr().String()) {
		if !s.auth.NoneForced() {
			ln.Close()
			return fmt.Errorf("auth mode none is allowed only on a loopback address, not %s (set auth.mode, or auth.allow_none_on_public_listen: true to force it)", ln.Addr())
		}
		s.log.Warn("auth_none_on_public_listen", "addr", ln.Addr().String())
	}
	if err := s.auth.Open(ctx); err != nil {
		ln.Close()
		return err
	}
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	hs := &http.Server{
		Handler:           s.Handler(streams),
		ReadHeaderTimeout: readHeaderTimeout,
		// net/http's own complaints (a panic in a handler, a bad TLS
		// handshake, accept errors) as structured warnings.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if addr := s.cfg.Server.MetricsListen; addr != "" && addr != "off" {
		aln, err := net.Listen("tcp", addr)
		if err != nil {
			hs.Close()
			<-errc
			return fmt.Errorf("admin listener: %w", err)
		}
		admin := &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: readHeaderTimeout}
		go admin.Serve(aln)
		defer admin.Close()
		s.log.Info("serving_admin", "addr", aln.Addr().String())
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "tools", len(s.state.Load().tools), "auth", s.auth.Mode())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.ready.Store(false)
	s.log.Info("shutting_down", "inflight", s.inflight.Load())
	deadline, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- hs.Shutdown(deadline) }()
	// Streams carry the results of in-flight SSE calls: end them only once
	// no call is running (or the deadline passed).
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.inflight.Load() > 0 && deadline.Err() == nil {
		<-tick.C
	}
	endStreams()
	err := <-shut
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("shutdown_timeout", "inflight", s.inflight.Load())
		_ = hs.Close()
		err = nil
	}
	<-errc
	s.Close()
	return err
}
