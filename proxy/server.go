package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/api2mcp/api2mcp/configs"
	"github.com/api2mcp/api2mcp/mapping"
)

// Options configure [New].
type Options struct {
	// Logger receives one line per tool call and server events; nil discards.
	Logger *slog.Logger
	// Version is reported at initialize when the config sets none, and in the
	// upstream User-Agent.
	Version string
	// Now is the clock of cache expiry and rate limits; nil means time.Now.
	Now func() time.Time
}

// Server serves one configuration's tools over every transport.
type Server struct {
	cfg      *configs.Config
	log      *slog.Logger
	mcp      *mcp.Server
	tools    map[string]*toolEntry
	inflight atomic.Int64
	ready    atomic.Bool

	cache       *responseCache // nil: no tool is cached
	callerLimit *limiter       // rate_limits.caller; nil: none
	clientLimit *limiter       // rate_limits.client_ip; nil: none
	redis       *redisBuckets  // rate_limits.shared; nil: none

	linkSeq atomic.Uint64
	links   sync.Map // request link id → the HTTP request's context
}

type toolEntry struct {
	tool     *mapping.Tool
	upstream *upstreamClient
	policy   configs.ToolPolicy
	limit    *limiter // rate_limit; nil: none
}

// New builds the MCP server and the upstream clients for cfg. It has no side
// effects: nothing listens until Serve or ServeStdio.
func New(cfg *configs.Config, opts *Options) (*Server, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	version := cfg.Server.Version
	if version == "" {
		version = o.Version
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{cfg: cfg, log: o.Logger, tools: map[string]*toolEntry{}}
	maxKeys := cfg.RateLimits.MaxKeys
	if cfg.RateLimits.Shared {
		rb, err := newRedisBuckets(cfg.RedisURL, o.Logger, o.Now)
		if err != nil {
			return nil, err
		}
		s.redis = rb
	}
	s.callerLimit = newLimiter("caller", cfg.RateLimits.Caller, maxKeys, o.Now, s.redis)
	s.clientLimit = newLimiter("client_ip", cfg.RateLimits.ClientIP, maxKeys, o.Now, s.redis)
	s.mcp = mcp.NewServer(&mcp.Implementation{Name: cfg.Server.Name, Version: version}, &mcp.ServerOptions{
		Instructions: cfg.Server.Instructions,
		Logger:       slog.New(minLevel{o.Logger.Handler(), slog.LevelWarn}),
	})
	clients := map[string]*upstreamClient{}
	for name, u := range cfg.Upstreams {
		clients[name] = newUpstreamClient(u, "api2mcp/"+o.Version, o.Logger)
	}
	for _, t := range cfg.Tools {
		up, ok := clients[t.Upstream()]
		if !ok {
			return nil, fmt.Errorf("tool %s: upstream %q is not configured", t.Name(), t.Upstream())
		}
		pol := cfg.Policies[t.Name()]
		e := &toolEntry{tool: t, upstream: up, policy: pol, limit: newLimiter("tool:"+t.Name(), pol.RateLimit, maxKeys, o.Now, s.redis)}
		if pol.Cache != nil && s.cache == nil {
			s.cache = newResponseCache(cfg.Cache, o.Now)
		}
		s.tools[t.Name()] = e
		s.mcp.AddTool(mcpTool(t.Descriptor()), s.handler(e))
	}
	s.ready.Store(true)
	return s, nil
}

func mcpTool(d mapping.Descriptor) *mcp.Tool {
	destructive := d.Hints.Destructive
	var output any
	if d.OutputSchema != nil {
		output = d.OutputSchema
	}
	return &mcp.Tool{
		OutputSchema: output,
		Name:         d.Name,
		Title:        d.Title,
		Description:  d.Description,
		InputSchema:  d.InputSchema,
		Annotations: &mcp.ToolAnnotations{
			Title:           d.Title,
			ReadOnlyHint:    d.Hints.ReadOnly,
			DestructiveHint: &destructive,
			IdempotentHint:  d.Hints.Idempotent,
			OpenWorldHint:   d.Hints.OpenWorld,
		},
	}
}

// handler is the tool handler: limit, map, look up, call, shape, store.
// Everything that goes wrong in a call becomes an isError result for the
// model; it never returns a Go error, which the SDK would turn into a
// protocol error.
func (s *Server) handler(e *toolEntry) mcp.ToolHandler {
	name := e.tool.Name()
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		start := time.Now()
		var header http.Header
		if req.Extra != nil {
			header = req.Extra.Header
		}
		ctx, cancel := s.linkedContext(ctx, header)
		defer cancel()
		outcome, status := "ok", 0
		res := s.call(ctx, e, callerIdentity(req), req.Params, header, &outcome, &status)
		s.log.LogAttrs(ctx, slog.LevelInfo, "tool_call",
			slog.String("tool", name),
			slog.String("upstream", e.tool.Upstream()),
			slog.Int("upstream_status", status),
			slog.String("outcome", outcome),
			slog.Duration("duration", time.Since(start)))
		return res, nil
	}
}

// callerIdentity is who is calling, for cache keys and rate limits: the
// user the front door authenticated (TokenInfo.UserID), or "" when there is
// no authentication (every caller is then the same caller).
func callerIdentity(req *mcp.CallToolRequest) string {
	if req.Extra != nil && req.Extra.TokenInfo != nil {
		return req.Extra.TokenInfo.UserID
	}
	return ""
}

func (s *Server) call(ctx context.Context, e *toolEntry, caller string, params *mcp.CallToolParamsRaw, header http.Header, outcome *string, status *int) *mcp.CallToolResult {
	if res := s.checkLimits(ctx, e, caller); res != nil {
		*outcome = "rate_limited"
		return res
	}
	r, err := e.tool.BuildRequest(params.Arguments, nil)
	if err != nil {
		var ae *mapping.ArgumentError
		if errors.As(err, &ae) {
			*outcome = "bad_arguments"
		} else {
			*outcome = "mapping_error"
		}
		return s.errorResult(fmt.Sprintf("%s: %v", e.tool.Name(), err))
	}
	d := cachePolicy(e, r, caller, header, params.GetMeta())
	if d.key == "" || s.cache == nil {
		f := s.fetch(ctx, e, r, header)
		*outcome, *status = f.outcome, f.status
		return s.result(e, f.shaped)
	}
	if d.lookup {
		if shaped, ok := s.cache.get(d.key); ok {
			*outcome = "cache_hit"
			return s.result(e, shaped)
		}
	}
	f, shared, err := s.cache.do(ctx, d.key, func(ctx context.Context) fetched {
		// A flight that ended between our lookup and our joining has
		// stored its answer: use it rather than ask again.
		if d.lookup {
			if shaped, ok := s.cache.get(d.key); ok {
				return fetched{shaped: shaped, outcome: "cache_hit"}
			}
		}
		f := s.fetch(ctx, e, r, header)
		if ttl, ok := d.store(f.status, f.header, f.shaped); ok {
			s.cache.put(d.key, f.shaped, ttl)
		}
		f.header = nil
		return f
	})
	if err != nil {
		*outcome = "cancelled"
		return s.errorResult(e.tool.Name() + ": the call was cancelled")
	}
	*outcome, *status = f.outcome, f.status
	if shared && f.outcome == "ok" {
		*outcome = "cache_shared"
	}
	return s.result(e, f.shaped)
}

// checkLimits takes a token from the tool's and the caller's buckets and
// says when to retry if either is empty.
func (s *Server) checkLimits(ctx context.Context, e *toolEntry, caller string) *mcp.CallToolResult {
	key := caller
	if e.policy.RateLimit != nil && e.policy.RateLimit.PerTool {
		key = ""
	}
	if wait, ok := e.limit.allow(ctx, key); !ok {
		scope := "per caller"
		if key == "" && e.policy.RateLimit.PerTool {
			scope = "for all callers"
		}
		return s.limitedResult(fmt.Sprintf("%s: rate limit exceeded (%s %s)", e.tool.Name(), e.limit.describe(), scope), wait)
	}
	if wait, ok := s.callerLimit.allow(ctx, caller); !ok {
		return s.limitedResult(fmt.Sprintf("%s: rate limit exceeded (%s per caller across all tools)", e.tool.Name(), s.callerLimit.describe()), wait)
	}
	return nil
}

// retryAfterMetaKey carries, in a rate-limited result's _meta, the seconds
// to wait, for clients that retry on their own.
const retryAfterMetaKey = "api2mcp/retryAfter"

func (s *Server) limitedResult(msg string, wait time.Duration) *mcp.CallToolResult {
	secs := retrySeconds(wait)
	res := s.errorResult(fmt.Sprintf("%s; retry after %d seconds", msg, secs))
	res.Meta = mcp.Meta{retryAfterMetaKey: secs}
	return res
}

// fetch calls the upstream and shapes its answer; failures are shaped as
// error results.
func (s *Server) fetch(ctx context.Context, e *toolEntry, r *mapping.Request, header http.Header) fetched {
	resp, err := e.upstream.do(ctx, r, header)
	if err != nil {
		return fetched{outcome: "upstream_error", shaped: mapping.Result{IsError: true, Text: fmt.Sprintf("%s: %v", e.tool.Name(), err)}}
	}
	f := fetched{status: resp.status, header: resp.header, outcome: "ok"}
	f.shaped = e.tool.ShapeResponse(r, resp.status, resp.header, resp.body)
	if f.shaped.IsError {
		f.outcome = "upstream_status"
		if resp.status >= 200 && resp.status <= 299 {
			f.outcome = "shaping_error"
		}
		f.shaped.Text = e.tool.Name() + ": " + f.shaped.Text
	}
	return f
}

// result turns a shaped answer into a fresh tool result (a cached answer is
// shared and never modified).
func (s *Server) result(e *toolEntry, shaped mapping.Result) *mcp.CallToolResult {
	res := &mcp.CallToolResult{IsError: shaped.IsError}
	if shaped.Binary != nil {
		res.Content = append(res.Content, binaryContent(e.tool.Name(), shaped.Binary))
	}
	if shaped.Text != "" || shaped.Binary == nil {
		res.Content = append(res.Content, &mcp.TextContent{Text: s.cfg.Redact(shaped.Text)})
	}
	if shaped.Structured != nil {
		res.StructuredContent = json.RawMessage(s.redactBytes(shaped.Structured))
	}
	return res
}

// binaryContent is an image, audio clip, or other binary body as an
// embedded resource.
func binaryContent(tool string, b *mapping.Binary) mcp.Content {
	switch {
	case strings.HasPrefix(b.MIMEType, "image/"):
		return &mcp.ImageContent{Data: b.Data, MIMEType: b.MIMEType}
	case strings.HasPrefix(b.MIMEType, "audio/"):
		return &mcp.AudioContent{Data: b.Data, MIMEType: b.MIMEType}
	}
	return &mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
		URI:      "api2mcp:result/" + tool,
		MIMEType: b.MIMEType,
		Blob:     b.Data,
	}}
}

func (s *Server) errorResult(msg string) *mcp.CallToolResult {
	return &mcp.CallToolResult{
		Content: []mcp.Content{&mcp.TextContent{Text: s.cfg.Redact(msg)}},
		IsError: true,
	}
}

func (s *Server) redactBytes(b []byte) []byte {
	for _, sec := range s.cfg.Secrets() {
		if bytes.Contains(b, []byte(sec)) {
			return []byte(s.cfg.Redact(string(b)))
		}
	}
	return b
}

// ServeStdio serves MCP on in and out (stdin and stdout for a local client)
// until ctx is done or the client disconnects.
func (s *Server) ServeStdio(ctx context.Context, in io.ReadCloser, out io.WriteCloser) error {
	err := s.mcp.Run(ctx, &mcp.IOTransport{Reader: in, Writer: out, MaxLineLength: int(s.cfg.Server.MaxRequestBytes)})
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

// Close releases idle upstream connections and the Redis client.
func (s *Server) Close() {
	for _, e := range s.tools {
		e.upstream.closeIdle()
	}
	if s.redis != nil {
		s.redis.close()
	}
}

// minLevel drops records below a level: the SDK logs every session at info,
// which in stateless mode means every request.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}
