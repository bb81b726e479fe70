package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/api2mcp/api2mcp/authn"
)

// tokenInfoSkew is the clock skew the SDK's bearer check tolerates on an
// identity authn already verified (with its own leeway): it must never
// reject what authn accepted.
const tokenInfoSkew = time.Hour

// claimsKey is where the caller's claims travel in auth.TokenInfo.Extra,
// and identityExtraKey the whole identity (for user_token upstreams).
const (
	claimsKey        = "claims"
	identityExtraKey = "identity"
)

// sdkIdentity hands the identity authn verified to the MCP SDK, which puts
// it in req.Extra.TokenInfo (Streamable HTTP) and in the session's context
// (legacy SSE: the identity of the GET that opened the session holds for
// the session). The SDK also binds stateful sessions to TokenInfo.UserID.
// In mode none it does nothing.
func (s *Server) sdkIdentity(h http.Handler) http.Handler {
	if s.auth.Mode() == authn.ModeNone {
		return h
	}
	verify := func(ctx context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		id := authn.FromContext(r.Context())
		if id == nil {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{
			Scopes:     id.Scopes,
			Expiration: id.Expiry,
			UserID:     id.Subject,
			Extra:      map[string]any{claimsKey: id.Claims, identityExtraKey: id},
		}, nil
	}
	return auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{
		AllowMissingExpiration: true, // API keys do not expire
		ClockSkew:              tokenInfoSkew,
	})(h)
}

// caller is the identity of a tool call as the SDK hands it over, and
// whether one is required.
type caller struct {
	subject string // who: keys the cache and per-caller rate limits
	scopes  []string
	claims  map[string]any
	known   bool            // an identity came with the call
	id      *authn.Identity // as authn verified it; nil for local calls
}

type localKey struct{}

// callerOf reads the caller of an MCP request: req.Extra.TokenInfo over
// Streamable HTTP, the session's context over SSE.
func callerOf(ctx context.Context, extra *mcp.RequestExtra) caller {
	var ti *auth.TokenInfo
	if extra != nil {
		ti = extra.TokenInfo
	}
	if ti == nil {
		ti = auth.TokenInfoFromContext(ctx)
	}
	if ti == nil {
		return caller{}
	}
	claims, _ := ti.Extra[claimsKey].(map[string]any)
	id, _ := ti.Extra[identityExtraKey].(*authn.Identity)
	return caller{subject: ti.UserID, scopes: ti.Scopes, claims: claims, known: true, id: id}
}

func (c caller) has(scopes []string) bool {
	for _, sc := range scopes {
		if !slices.Contains(c.scopes, sc) {
			return false
		}
	}
	return true
}

// authorize decides whether the caller may use the tool at all (scopes).
// Local calls (the CLI, stdio) and auth mode none need no identity; over
// HTTP with a front door an identity is always there, and a call without
// one is refused.
func (s *Server) authorize(ctx context.Context, c caller, e *toolEntry) bool {
	if s.auth.Mode() == authn.ModeNone || ctx.Value(localKey{}) != nil {
		return true
	}
	return c.known && c.has(e.tool.Scopes())
}

// toolScopes answers 403 insufficient_scope (the MCP step-up challenge)
// before the SDK sees a tools/call for a tool whose scopes the token lacks.
// The tool handler checks again; this check exists so that clients get the
// HTTP challenge that tells them which scopes to ask for.
func (s *Server) toolScopes(h http.Handler) http.Handler {
	if s.auth.Mode() == authn.ModeNone {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := authn.FromContext(r.Context())
		st := s.state.Load()
		if r.Method != http.MethodPost || id == nil || !st.anyScopes {
			h.ServeHTTP(w, r)
			return
		}
		for _, name := range calledTools(r) {
			e, ok := st.tools[name]
			if !ok || id.HasScopes(e.tool.Scopes()) {
				continue
			}
			need := slices.Clone(s.cfg.Auth.Scopes)
			for _, sc := range e.tool.Scopes() {
				if !slices.Contains(need, sc) {
					need = append(need, sc)
				}
			}
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "auth_rejected",
				slog.Int("status", http.StatusForbidden),
				slog.String("reason", "insufficient_scope"),
				slog.String("tool", name))
			s.auth.InsufficientScope(w, need)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// calledTools lists the tools a POSTed JSON-RPC message (or batch) calls.
// The body was read and checked to be JSON by checkBody.
func calledTools(r *http.Request) []string {
	if call, ok := callOf(r); ok { // the common case, read by checkBody
		return []string{call.name}
	}
	body, ok := bodyOf(r)
	if !ok {
		return nil
	}
	type message struct {
		Method string `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	var msgs []message
	if len(body) > 0 && body[0] == '[' {
		_ = json.Unmarshal(body, &msgs)
	} else {
		var m message
		if json.Unmarshal(body, &m) == nil {
			msgs = []message{m}
		}
	}
	var names []string
	for _, m := range msgs {
		if m.Method == "tools/call" {
			names = append(names, m.Params.Name)
		}
	}
	return names
}

// filterTools is an mcp.Middleware that leaves out of tools/list the tools
// the caller can never use (it lacks their scopes).
func (s *Server) filterTools(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if method != "tools/list" || err != nil || s.auth.Mode() == authn.ModeNone || ctx.Value(localKey{}) != nil {
			return res, err
		}
		list, ok := res.(*mcp.ListToolsResult)
		if !ok {
			return res, err
		}
		c := callerOf(ctx, req.GetExtra())
		kept := make([]*mcp.Tool, 0, len(list.Tools))
		for _, t := range list.Tools {
			if e, ok := s.state.Load().tools[t.Name]; ok && s.authorize(ctx, c, e) {
				kept = append(kept, t)
			}
		}
		out := *list
		out.Tools = kept
		return &out, nil
	}
}

// sseOwners binds legacy SSE sessions to the caller who opened them: a
// message posted to a session by anyone else is refused, so that a valid
// token cannot act with another caller's identity by learning a session id.
type sseOwners struct {
	mu    sync.Mutex
	owner map[string]string // session id → subject
}

// bindSSE records the owner of each SSE session (from the endpoint event
// the SDK writes on the GET) and checks it on every POST to the session.
// In mode none there is no one to bind to.
func (s *Server) bindSSE(h http.Handler) http.Handler {
	if s.auth.Mode() == authn.ModeNone {
		return h
	}
	owners := &sseOwners{owner: map[string]string{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := authn.FromContext(r.Context())
		if id == nil { // not reached: the front door runs first
			writeRPCError(w, http.StatusUnauthorized, -32600, "unauthenticated")
			return
		}
		switch r.Method {
		case http.MethodGet:
			cw := &endpointCapture{ResponseWriter: w, owners: owners, subject: id.Subject}
			defer cw.forget()
			h.ServeHTTP(cw, r)
		case http.MethodPost:
			sid := r.URL.Query().Get("sessionid")
			owners.mu.Lock()
			owner, known := owners.owner[sid]
			owners.mu.Unlock()
			if known && owner != id.Subject {
				s.log.LogAttrs(r.Context(), slog.LevelWarn, "auth_rejected",
					slog.Int("status", http.StatusForbidden),
					slog.String("reason", "sse_session_of_another_caller"))
				writeRPCError(w, http.StatusForbidden, -32600, "this session belongs to another caller")
				return
			}
			h.ServeHTTP(w, r)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// endpointCapture reads the session id from the SSE endpoint event.
type endpointCapture struct {
	http.ResponseWriter
	owners  *sseOwners
	subject string
	sid     string
}

func (c *endpointCapture) Write(p []byte) (int, error) {
	if c.sid == "" {
		if _, rest, ok := bytes.Cut(p, []byte("sessionid=")); ok {
			end := bytes.IndexAny(rest, "&\r\n")
			if end < 0 {
				end = len(rest)
			}
			c.sid = string(rest[:end])
			c.owners.mu.Lock()
			c.owners.owner[c.sid] = c.subject
			c.owners.mu.Unlock()
		}
	}
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController flush the stream.
func (c *endpointCapture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *endpointCapture) forget() {
	if c.sid == "" {
		return
	}
	c.owners.mu.Lock()
	delete(c.owners.owner, c.sid)
	c.owners.mu.Unlock()
}
