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
}

// Server serves one configuration's tools over every transport.
type Server struct {
	cfg      *configs.Config
	log      *slog.Logger
	mcp      *mcp.Server
	tools    map[string]*toolEntry
	catalogs []*catalog
	inflight atomic.Int64
	ready    atomic.Bool
}

type toolEntry struct {
	tool     *mapping.Tool
	upstream *upstreamClient
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
	s := &Server{cfg: cfg, log: o.Logger, tools: map[string]*toolEntry{}}
	s.mcp = mcp.NewServer(&mcp.Implementation{Name: cfg.Server.Name, Version: version}, &mcp.ServerOptions{
		Instructions: cfg.Server.Instructions,
		Logger:       slog.New(minLevel{o.Logger.Handler(), slog.LevelWarn}),
	})
	clients := map[string]*upstreamClient{}
	for name, u := range cfg.Upstreams {
		clients[name] = newUpstreamClient(u, "api2mcp/"+o.Version)
	}
	for _, t := range cfg.Tools {
		up, ok := clients[t.Upstream()]
		if !ok {
			return nil, fmt.Errorf("tool %s: upstream %q is not configured", t.Name(), t.Upstream())
		}
		e := &toolEntry{tool: t, upstream: up, cred: cfg.Credentials[t.Name()]}
		s.tools[t.Name()] = e
		s.mcp.AddTool(mcpTool(t.Descriptor()), s.handler(e))
	}
	for _, c := range cfg.Catalogs {
		if err := s.addCatalog(c, clients); err != nil {
			return nil, err
		}
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

// handler is the tool handler: map, call, shape. Everything that goes wrong
// in a call becomes an isError result for the model; it never returns a Go
// error, which the SDK would turn into a protocol error.
func (s *Server) handler(e *toolEntry) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		start := time.Now()
		var header http.Header
		if req.Extra != nil {
			header = req.Extra.Header
		}
		outcome, status := "ok", 0
		res := s.call(ctx, e, req.Params.Arguments, header, &outcome, &status)
		s.logCall(ctx, e, outcome, status, start)
		return res, nil
	}
}

func (s *Server) logCall(ctx context.Context, e *toolEntry, outcome string, status int, start time.Time) {
	s.log.LogAttrs(ctx, slog.LevelInfo, "tool_call",
		slog.String("tool", e.tool.Name()),
		slog.String("upstream", e.tool.Upstream()),
		slog.Int("upstream_status", status),
		slog.String("outcome", outcome),
		slog.Duration("duration", time.Since(start)))
}

func (s *Server) call(ctx context.Context, e *toolEntry, args json.RawMessage, header http.Header, outcome *string, status *int) *mcp.CallToolResult {
	r, err := e.tool.BuildRequest(args, nil)
	if err != nil {
		var ae *mapping.ArgumentError
		if errors.As(err, &ae) {
			*outcome = "bad_arguments"
		} else {
			*outcome = "mapping_error"
		}
		return s.errorResult(fmt.Sprintf("%s: %v", e.tool.Name(), err))
	}
	resp, err := e.upstream.do(ctx, r, header, e.cred)
	if err != nil {
		*outcome = "upstream_error"
		return s.errorResult(fmt.Sprintf("%s: %v", e.tool.Name(), err))
	}
	*status = resp.status
	shaped := e.tool.ShapeResponse(r, resp.status, resp.header, resp.body)
	if shaped.IsError {
		*outcome = "upstream_status"
		if resp.status >= 200 && resp.status <= 299 {
			*outcome = "shaping_error"
		}
		shaped.Text = e.tool.Name() + ": " + shaped.Text
	}
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

// Close releases idle upstream connections.
func (s *Server) Close() {
	for _, e := range s.tools {
		e.upstream.closeIdle()
	}
	for _, c := range s.catalogs {
		for _, e := range c.entries {
			e.upstream.closeIdle()
		}
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
