package proxy

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// connectLocal connects an in-memory MCP client to the server, so that the
// CLI sees tools and results exactly as a remote client would.
func (s *Server) connectLocal(ctx context.Context) (*mcp.ClientSession, error) {
	ct, st := mcp.NewInMemoryTransports()
	// The local user needs no token: see authorize.
	if _, err := s.mcp.Connect(context.WithValue(ctx, localKey{}, true), st, nil); err != nil {
		return nil, fmt.Errorf("connecting the local client: %w", err)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "api2mcp-cli", Version: "local"}, nil)
	cs, err := c.Connect(ctx, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("connecting the local client: %w", err)
	}
	return cs, nil
}

// ListTools returns the tools/list result as JSON, exactly as clients get it.
func (s *Server) ListTools(ctx context.Context) (json.RawMessage, error) {
	cs, err := s.connectLocal(ctx)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	var all []*mcp.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("listing tools: %w", err)
		}
		all = append(all, t)
	}
	if all == nil {
		all = []*mcp.Tool{}
	}
	return json.Marshal(&mcp.ListToolsResult{Tools: all})
}

// CallTool makes one tools/call and returns the result as JSON and whether
// it is an error result. A non-nil error is a protocol error (for example an
// unknown tool).
func (s *Server) CallTool(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, bool, error) {
	cs, err := s.connectLocal(ctx)
	if err != nil {
		return nil, false, err
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return nil, false, err
	}
	b, err := json.Marshal(res)
	return b, res.IsError, err
}
