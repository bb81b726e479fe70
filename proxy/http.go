package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
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
	streamable := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		Stateless:                    !srv.Stateful,
		JSONResponse:                 !srv.Stateful,
		Logger:                       s.log,
		SessionTimeout:               srv.SessionTimeout,
		MaxRequestBodyBytes:          srv.MaxRequestBytes,
		PropagateRequestCancellation: true,
	})
	sse := mcp.NewSSEHandler(getServer, &mcp.SSEOptions{MaxRequestBodyBytes: srv.MaxRequestBytes})

	mux := http.NewServeMux()
	mux.Handle("/mcp", s.mcpChain(streamBound(streams, streamable)))
	mux.Handle("/sse", s.mcpChain(streamBound(streams, sse)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "tools": len(s.tools)})
	})
	return mux
}

// mcpChain wraps an MCP endpoint. The origin check comes first so that a
// foreign page learns nothing, not even whether its preflight would pass;
// then the body is bounded and checked to be JSON, so that oversized and
// malformed messages get JSON-RPC errors (the SDK answers them in plain text).
//
// The client-address rate limit comes before all of it: a flood is turned
// away at the cheapest point, before its body is read.
//
// linkRequest comes last, just before the SDK, so that only requests that
// reach it are registered.
func (s *Server) mcpChain(h http.Handler) http.Handler {
	return s.limitClients(s.checkOrigin(s.checkBody(s.linkRequest(h))))
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
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			writeRPCError(w, http.StatusBadRequest, -32700, "reading the request body failed")
			return
		}
		if int64(len(body)) > limit {
			writeRPCError(w, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("request body exceeds %d bytes", limit))
			return
		}
		if !json.Valid(body) {
			writeRPCError(w, http.StatusBadRequest, -32700, "parse error: the request body is not valid JSON")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
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
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	hs := &http.Server{
		Handler:           s.Handler(streams),
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          nil,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "tools", len(s.tools))
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
