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
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/api2mcp/api2mcp/authn"
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

// Server serves one configuration's tools over every transport. The tools,
// resources, prompts and upstream clients live in a state that Reload swaps
// atomically; server-level settings (listener, transports) are fixed at New.
type Server struct {
	cfg      *configs.Config // the config at New: server-level settings
	log      *slog.Logger
	version  string
	mcp      *mcp.Server
	state    atomic.Pointer[state]
	reloadMu sync.Mutex
	metrics  *metrics
	tracing  *tracing
	// noFastPath sends every request through the SDK (tests compare).
	noFastPath bool
	inflight   atomic.Int64
	ready      atomic.Bool
	auth       *authn.Authenticator
	now        func() time.Time

	cache       *responseCache // shared by every tool with a cache section
	callerLimit *limiter       // rate_limits.caller; nil: none
	clientLimit *limiter       // rate_limits.client_ip; nil: none
	redis       *redisBuckets  // rate_limits.shared; nil: none

	linkSeq atomic.Uint64
	links   sync.Map // request link id → the HTTP request's context
}

// state is one loaded configuration's runtime: immutable once stored.
type state struct {
	cfg     *configs.Config
	clients map[string]*upstreamClient
	tools   map[string]*toolEntry
	// registered are the MCP definitions as sent to clients, to tell
	// which ones a reload changes.
	registered map[string][]byte
	// anyScopes: some tool requires scopes (toolScopes then reads bodies).
	anyScopes bool
	// catalogs are the openapi entries served with discovery: dynamic.
	catalogs map[string]*catalog
}

type toolEntry struct {
	tool     *mapping.Tool
	upstream *upstreamClient
	cfg      *configs.Config // for redaction: the secrets this call may meet
	policy   configs.ToolPolicy
	limit    *limiter            // rate_limit; nil: none
	cred     *configs.Credential // nil: the upstream's headers only
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
	s := &Server{cfg: cfg, log: o.Logger, version: o.Version, now: o.Now}
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
	// The cache is made up front (it is empty until a tool with a cache
	// section stores something), so that a reload can add cached tools.
	s.cache = newResponseCache(cfg.Cache, o.Now)
	s.metrics = newMetrics(s, o.Version)
	a, err := authn.New(cfg.Auth, cfg.Server.PublicURL, &authn.Options{
		OnReject:        func(reason string) { s.metrics.authFailures.WithLabelValues(reason).Inc() },
		OnEvent:         func(event string) { s.metrics.authEvents.WithLabelValues(event).Inc() },
		Logger:          o.Logger,
		ResourceName:    cfg.Server.Name,
		ScopesSupported: cfg.ToolScopes(),
	})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s.auth = a
	s.mcp = mcp.NewServer(&mcp.Implementation{Name: cfg.Server.Name, Version: version}, &mcp.ServerOptions{
		Instructions:      cfg.Server.Instructions,
		CompletionHandler: complete,
		PageSize:          cfg.Server.PageSize,
		Logger:            slog.New(minLevel{o.Logger.Handler(), slog.LevelWarn}),
	})
	s.mcp.AddReceivingMiddleware(s.filterTools)
	tr, err := newTracing(o.Version)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	s.tracing = tr
	st, err := s.newState(cfg)
	if err != nil {
		return nil, err
	}
	s.install(&state{}, st)
	s.state.Store(st)
	s.ready.Store(true)
	return s, nil
}

func (s *Server) newState(cfg *configs.Config) (*state, error) {
	st := &state{cfg: cfg, clients: map[string]*upstreamClient{}, tools: map[string]*toolEntry{}, registered: map[string][]byte{},
		anyScopes: len(cfg.ToolScopes()) > 0, catalogs: map[string]*catalog{}}
	for name, u := range cfg.Upstreams {
		c := newUpstreamClient(u, "api2mcp/"+s.version, s.log, s.tracing)
		if u.UserToken {
			c.userToken = s.userToken
		}
		st.clients[name] = c
	}
	for _, t := range cfg.Tools {
		up, ok := st.clients[t.Upstream()]
		if !ok {
			return nil, fmt.Errorf("tool %s: upstream %q is not configured", t.Name(), t.Upstream())
		}
		pol := cfg.Policies[t.Name()]
		st.tools[t.Name()] = &toolEntry{tool: t, upstream: up, cfg: cfg, policy: pol, cred: cfg.Credentials[t.Name()],
			limit: newLimiter("tool:"+t.Name(), pol.RateLimit, cfg.RateLimits.MaxKeys, s.now, s.redis)}
	}
	for _, c := range cfg.Catalogs {
		cat, err := newCatalog(c, st)
		if err != nil {
			return nil, err
		}
		st.catalogs[c.Name] = cat
	}
	return st, nil
}

// install registers what next defines and removes what only old defined.
// A tool, resource or prompt whose definition is unchanged is left alone
// (its handler finds the new state by name), so a reload notifies clients
// (list_changed) only of real changes.
func (s *Server) install(old, next *state) {
	var goneTools, goneResources, goneTemplates, gonePrompts []string
	keep := next.registeredKeys()
	for key := range old.registered {
		if keep[key] {
			continue
		}
		kind, name, _ := strings.Cut(key, " ")
		switch kind {
		case "tool":
			goneTools = append(goneTools, name)
		case "resource":
			goneResources = append(goneResources, name)
		case "template":
			goneTemplates = append(goneTemplates, name)
		case "prompt":
			gonePrompts = append(gonePrompts, name)
		}
	}
	if len(goneTools) > 0 {
		s.mcp.RemoveTools(goneTools...)
	}
	if len(goneResources) > 0 {
		s.mcp.RemoveResources(goneResources...)
	}
	if len(goneTemplates) > 0 {
		s.mcp.RemoveResourceTemplates(goneTemplates...)
	}
	if len(gonePrompts) > 0 {
		s.mcp.RemovePrompts(gonePrompts...)
	}
	changed := func(key string, def any) bool {
		b, _ := json.Marshal(def)
		next.registered[key] = b
		return !bytes.Equal(old.registered[key], b)
	}
	for _, t := range next.cfg.Tools {
		if d := mcpTool(t.Descriptor()); changed("tool "+t.Name(), d) {
			s.mcp.AddTool(d, s.handler(t.Name()))
		}
	}
	s.addResources(next.cfg, changed)
	s.addPrompts(next.cfg, changed)
	for _, c := range next.cfg.Catalogs {
		s.addCatalog(next.catalogs[c.Name], changed)
	}
}

// registeredKeys lists the keys install will register for st.
func (st *state) registeredKeys() map[string]bool {
	keys := map[string]bool{}
	for _, t := range st.cfg.Tools {
		keys["tool "+t.Name()] = true
	}
	for _, r := range st.cfg.Resources {
		if r.Spec.URITemplate != "" {
			keys["template "+r.Spec.URITemplate] = true
		} else {
			keys["resource "+r.Spec.URI] = true
		}
	}
	for _, p := range st.cfg.Prompts {
		keys["prompt "+p.Spec.Name] = true
	}
	for _, c := range st.cfg.Catalogs {
		for _, suffix := range catalogTools {
			keys["tool "+c.Name+suffix] = true
		}
	}
	return keys
}

// Reload swaps in a new configuration: tools, resources, prompts and
// upstreams change atomically; calls in flight finish on the old ones;
// connected clients get list_changed notifications for what changed.
// Server-level settings need a restart: the returned warnings name those
// that differ.
func (s *Server) Reload(cfg *configs.Config) ([]string, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	next, err := s.newState(cfg)
	if err != nil {
		return nil, err
	}
	old := s.state.Load()
	s.install(old, next)
	s.state.Store(next)
	for _, c := range old.clients {
		c.closeIdle() // connections in use finish their calls
	}
	s.metrics.reloads.WithLabelValues("ok").Inc()
	warnings := serverChanges(s.cfg.Server, cfg.Server)
	if !reflect.DeepEqual(s.cfg.Auth, cfg.Auth) {
		warnings = append(warnings, "auth changed: restart to apply it")
	}
	return warnings, nil
}

// serverChanges names the server settings that differ and so need a
// restart.
func serverChanges(was, now configs.ServerSpec) []string {
	var out []string
	a, b := reflect.ValueOf(was), reflect.ValueOf(now)
	for i := range a.NumField() {
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			out = append(out, "server."+a.Type().Field(i).Tag.Get("koanf")+" changed: restart to apply it")
		}
	}
	return out
}

func mcpTool(d mapping.Descriptor) *mcp.Tool {
	destructive := d.Hints.Destructive
	var output any
	if d.OutputSchema != nil {
		output = d.OutputSchema
	}
	var icons []mcp.Icon
	for _, src := range d.Icons {
		icons = append(icons, mcp.Icon{Source: src})
	}
	return &mcp.Tool{
		Icons:        icons,
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

// handler is the tool handler: authorize, limit, map, look up, call, shape,
// store. Everything that goes wrong in a call becomes an isError result for
// the model; it never returns a Go error, which the SDK would turn into a
// protocol error.
func (s *Server) handler(name string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		// The entry of the state current when the call starts: a reload
		// during the call does not change what it uses.
		e, ok := s.state.Load().tools[name]
		if !ok {
			return nil, fmt.Errorf("unknown tool %q", name)
		}
		return s.invoke(ctx, e, req, req.Params), nil
	}
}

// invoke runs one call of the tool e with params (a tools/call's, or an
// operation's through a dynamic catalog): trace, authorize, call, count,
// log.
func (s *Server) invoke(ctx context.Context, e *toolEntry, req *mcp.CallToolRequest, params *mcp.CallToolParamsRaw) *mcp.CallToolResult {
	res, _ := s.run(ctx, e, req, params, false)
	return res
}

// run is invoke. With wantJSON, a result whose encoding is at hand (a
// cache hit) is returned as that encoding alone (res nil): the fast path
// writes it as it is.
func (s *Server) run(ctx context.Context, e *toolEntry, req *mcp.CallToolRequest, params *mcp.CallToolParamsRaw, wantJSON bool) (res *mcp.CallToolResult, encoded []byte) {
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	name := e.tool.Name()
	start := time.Now()
	var header http.Header
	if req.Extra != nil {
		header = req.Extra.Header
	}
	ctx, cancel := s.linkedContext(ctx, header)
	defer cancel()
	outcome, status := "ok", 0
	ctx, span := s.tracing.startCall(ctx, header, name, e.tool.Upstream())
	defer func() { endSpan(span, outcome, status) }()
	c := callerOf(ctx, req.Extra)
	if c.id != nil && authn.FromContext(ctx) == nil {
		// The upstream call may need it (auth type user_token).
		ctx = authn.NewContext(ctx, c.id)
	}
	if s.authorize(ctx, c, e) {
		res, encoded = s.call(ctx, e, c, params, header, progressNotes(ctx, req), &outcome, &status, wantJSON)
	} else {
		outcome = "denied"
		res = errorResult(e.cfg, name+": access denied")
	}
	took := time.Since(start)
	s.metrics.toolCall(name, outcome, took)
	// The line's attributes are made only for a logger that keeps it.
	if s.log.Enabled(ctx, slog.LevelInfo) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "tool_call",
			slog.String("request_id", header.Get("X-Request-Id")),
			slog.String("caller", c.subject),
			slog.String("tool", name),
			slog.String("upstream", e.tool.Upstream()),
			slog.Int("upstream_status", status),
			slog.String("outcome", outcome),
			slog.Duration("duration", took))
	}
	return res, encoded
}

// call runs one tool call for caller c. c.subject keys the cache and the
// per-caller limits: the user the front door authenticated, or "" without
// authentication (every caller is then the same caller).
// With wantJSON, a result whose encoding is at hand is returned as that
// encoding alone (see run).
func (s *Server) call(ctx context.Context, e *toolEntry, c caller, params *mcp.CallToolParamsRaw, header http.Header, note func(float64, string), outcome *string, status *int, wantJSON bool) (*mcp.CallToolResult, []byte) {
	if res := s.checkLimits(ctx, e, c.subject); res != nil {
		*outcome = "rate_limited"
		return res, nil
	}
	r, err := e.tool.BuildRequest(params.Arguments, c.claims)
	if err != nil {
		var ae *mapping.ArgumentError
		if errors.Is(err, mapping.ErrDenied) {
			*outcome = "denied"
		} else if errors.As(err, &ae) {
			*outcome = "bad_arguments"
		} else {
			*outcome = "mapping_error"
		}
		return errorResult(e.cfg, fmt.Sprintf("%s: %v", e.tool.Name(), err)), nil
	}
	d := cachePolicy(e, r, c.subject, header, params.GetMeta())
	if d.key == "" || s.cache == nil {
		f := s.fetch(ctx, e, r, header, note)
		*outcome, *status = f.outcome, f.status
		return s.result(e, f.shaped), nil
	}
	if d.lookup {
		if hit, ok := s.cache.get(d.key, e.cfg); ok {
			*outcome = "cache_hit"
			if note != nil {
				note(100, "answered from the cache")
			}
			return s.answer(e, nil, hit.encoded, wantJSON)
		}
	}
	f, shared, err := s.cache.do(ctx, d.key, func(ctx context.Context) fetched {
		// A flight that ended between our lookup and our joining has
		// stored its answer: use it rather than ask again.
		if d.lookup {
			if hit, ok := s.cache.peek(d.key, e.cfg); ok {
				return fetched{encoded: hit.encoded, outcome: "cache_hit"}
			}
		}
		f := s.fetch(ctx, e, r, header, note)
		if ttl, ok := d.store(f.status, f.header, f.shaped); ok {
			// Stored encoded: hits are written as they are, without
			// making and encoding the result again.
			if f.encoded = s.encode(e, f.shaped); f.encoded != nil {
				s.cache.put(d.key, f.encoded, ttl)
			}
		}
		f.header = nil
		return f
	})
	if err != nil {
		*outcome = "cancelled"
		return errorResult(e.cfg, e.tool.Name()+": the call was cancelled"), nil
	}
	*outcome, *status = f.outcome, f.status
	if shared && f.outcome == "ok" {
		*outcome = "cache_shared"
	}
	if f.outcome == "cache_hit" {
		return s.answer(e, nil, f.encoded, wantJSON)
	}
	return s.answer(e, &f.shaped, f.encoded, wantJSON)
}

// answer is a call's result from its shaped answer (nil: none, a cache
// hit) or its encoding enc (nil: none): with wantJSON, enc as it is when
// there is one; else the result made from shaped, or decoded from enc.
func (s *Server) answer(e *toolEntry, shaped *mapping.Result, enc *encodedResult, wantJSON bool) (*mcp.CallToolResult, []byte) {
	switch {
	case wantJSON && enc != nil:
		return nil, enc.json
	case shaped != nil:
		return s.result(e, *shaped), nil
	}
	res, err := decodeResult(enc.json)
	if err != nil {
		return errorResult(e.cfg, e.tool.Name()+": reading the cached result failed"), nil
	}
	return res, nil
}

// decodeResult is the result b encodes, for the SDK to encode again: the
// content as the SDK reads it, and structuredContent as it is (decoded
// into a map it would lose the order of its keys and the digits of its
// numbers).
func decodeResult(b []byte) (*mcp.CallToolResult, error) {
	var res mcp.CallToolResult
	if err := res.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	if res.StructuredContent != nil {
		var raw struct {
			Structured json.RawMessage `json:"structuredContent"`
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			return nil, err
		}
		res.StructuredContent = raw.Structured
	}
	return &res, nil
}

// encode is the result of a shaped answer for e, encoded; nil if it cannot
// be.
func (s *Server) encode(e *toolEntry, shaped mapping.Result) *encodedResult {
	b, err := appendResult(nil, s.result(e, shaped))
	if err != nil {
		return nil
	}
	// Exactly its size: the cache counts the bytes it holds by length.
	return &encodedResult{cfg: e.cfg, json: bytes.Clone(b)}
}

// checkLimits takes a token from the tool's and the caller's buckets and
// says when to retry if either is empty.
func (s *Server) checkLimits(ctx context.Context, e *toolEntry, caller string) *mcp.CallToolResult {
	key := caller
	if e.policy.RateLimit != nil && e.policy.RateLimit.PerTool {
		key = ""
	}
	if wait, ok := e.limit.allow(ctx, key); !ok {
		s.metrics.rateLimited.WithLabelValues("tool").Inc()
		scope := "per caller"
		if key == "" && e.policy.RateLimit.PerTool {
			scope = "for all callers"
		}
		return limitedResult(e.cfg, fmt.Sprintf("%s: rate limit exceeded (%s %s)", e.tool.Name(), e.limit.describe(), scope), wait)
	}
	if wait, ok := s.callerLimit.allow(ctx, caller); !ok {
		s.metrics.rateLimited.WithLabelValues("caller").Inc()
		return limitedResult(e.cfg, fmt.Sprintf("%s: rate limit exceeded (%s per caller across all tools)", e.tool.Name(), s.callerLimit.describe()), wait)
	}
	return nil
}

// retryAfterMetaKey carries, in a rate-limited result's _meta, the seconds
// to wait, for clients that retry on their own.
const retryAfterMetaKey = "api2mcp/retryAfter"

func limitedResult(cfg *configs.Config, msg string, wait time.Duration) *mcp.CallToolResult {
	secs := retrySeconds(wait)
	res := errorResult(cfg, fmt.Sprintf("%s; retry after %d seconds", msg, secs))
	res.Meta = mcp.Meta{retryAfterMetaKey: secs}
	return res
}

// fetch calls the upstream and shapes its answer; failures are shaped as
// error results.
func (s *Server) fetch(ctx context.Context, e *toolEntry, r *mapping.Request, header http.Header, note func(float64, string)) fetched {
	if note != nil {
		note(0, "calling upstream "+e.tool.Upstream())
	}
	upStart := time.Now()
	resp, err := e.upstream.do(ctx, r, header, e.cred)
	if resp != nil {
		s.metrics.upstream(e.tool.Upstream(), resp.status, time.Since(upStart))
	} else {
		s.metrics.upstream(e.tool.Upstream(), 0, time.Since(upStart))
	}
	if err != nil {
		return fetched{outcome: "upstream_error", shaped: mapping.Result{IsError: true, Text: fmt.Sprintf("%s: %v", e.tool.Name(), err)}}
	}
	if note != nil {
		note(50, fmt.Sprintf("upstream answered HTTP %d (%d bytes)", resp.status, len(resp.body)))
	}
	f := fetched{status: resp.status, header: resp.header, outcome: "ok"}
	f.shaped = e.tool.ShapeResponse(r, resp.status, resp.header, resp.body)
	if note != nil {
		note(100, "result ready")
	}
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
	if shaped.Contents != nil {
		res.Content = contentList(shaped.Contents, e.cfg.Redact)
	}
	if shaped.Binary != nil {
		res.Content = append(res.Content, binaryContent(e.tool.Name(), shaped.Binary))
	}
	if shaped.Contents == nil && (shaped.Text != "" || shaped.Binary == nil) {
		res.Content = append(res.Content, &mcp.TextContent{Text: e.cfg.Redact(shaped.Text)})
	}
	if shaped.Structured != nil {
		res.StructuredContent = json.RawMessage(redactBytes(e.cfg, shaped.Structured))
	}
	return res
}

// progressNotes returns how a call reports its steps: a progress
// notification (0, 50, 100 of 100) when the client sent a progress token,
// and a debug log notification for clients that asked for logs (the SDK
// sends it only at the level the client set). Neither says more than the
// tool, upstream and status. Both need a stream to the client: a stateful
// session, or a request answered as an event stream; without one it returns
// nil, and callers skip the notes.
func progressNotes(ctx context.Context, req *mcp.CallToolRequest) func(float64, string) {
	ss := req.Session
	if ss == nil {
		return nil // nothing to send them on: not even their text is made
	}
	token := req.Params.GetProgressToken()
	tool := req.Params.Name
	return func(step float64, msg string) {
		if token != nil {
			_ = ss.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: step, Total: 100, Message: msg})
		}
		_ = ss.Log(ctx, &mcp.LoggingMessageParams{Level: "debug", Logger: "api2mcp", Data: map[string]any{"tool": tool, "step": msg}})
	}
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

func errorResult(cfg *configs.Config, msg string) *mcp.CallToolResult {
	return &mcp.CallToolResult{
		Content: []mcp.Content{&mcp.TextContent{Text: cfg.Redact(msg)}},
		IsError: true,
	}
}

func redactBytes(cfg *configs.Config, b []byte) []byte {
	for _, sec := range cfg.Secrets() {
		if bytes.Contains(b, []byte(sec)) {
			return []byte(cfg.Redact(string(b)))
		}
	}
	return b
}

// ServeStdio serves MCP on in and out (stdin and stdout for a local client)
// until ctx is done or the client disconnects.
func (s *Server) ServeStdio(ctx context.Context, in io.ReadCloser, out io.WriteCloser) error {
	// stdio serves the local user who started it: no token is asked for.
	err := s.mcp.Run(context.WithValue(ctx, localKey{}, true), &mcp.IOTransport{Reader: in, Writer: out, MaxLineLength: int(s.cfg.Server.MaxRequestBytes)})
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

// userToken is the calling user's provider token (auth type user_token).
func (s *Server) userToken(ctx context.Context) (string, error) {
	return s.auth.UpstreamToken(ctx, authn.FromContext(ctx))
}

// Close releases idle upstream connections, the Redis client and the
// front door's key refresh, and flushes traces.
func (s *Server) Close() {
	s.auth.Close()
	for _, c := range s.state.Load().clients {
		c.closeIdle()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.tracing.shutdown(ctx); err != nil {
		s.log.Warn("tracing_flush_failed", "error", err.Error())
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
