package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/api2mcp/api2mcp/configs"
)

// Dynamic discovery serves a catalog of operations through three tools, so
// that a large API costs a few hundred tokens in tools/list instead of one
// tool per operation.

// defaultSearchLimit and maxSearchLimit bound a search's results.
const (
	defaultSearchLimit = 10
	maxSearchLimit     = 50
)

type catalog struct {
	name    string
	entries map[string]*toolEntry
	ops     map[string]string // tool name → "METHOD /path"
	order   []string          // tool names, sorted
}

// catalogTools are the suffixes of the three tools of a dynamic catalog.
var catalogTools = []string{"_search", "_describe", "_call"}

// newCatalog builds a dynamic catalog's entries with the upstream clients
// and credentials of st.
func newCatalog(c *configs.Catalog, st *state) (*catalog, error) {
	cat := &catalog{name: c.Name, entries: map[string]*toolEntry{}, ops: map[string]string{}}
	for _, e := range c.Entries {
		up, ok := st.clients[e.Tool.Upstream()]
		if !ok {
			return nil, fmt.Errorf("tool %s: upstream %q is not configured", e.Tool.Name(), e.Tool.Upstream())
		}
		cat.entries[e.Tool.Name()] = &toolEntry{tool: e.Tool, upstream: up, cfg: st.cfg, cred: st.cfg.Credentials[e.Tool.Name()]}
		cat.ops[e.Tool.Name()] = e.Operation
		cat.order = append(cat.order, e.Tool.Name())
	}
	sort.Strings(cat.order)
	return cat, nil
}

// addCatalog registers a catalog's three tools when their definitions
// changed; their handlers find the catalog in the state current at the
// call, like every tool's.
func (s *Server) addCatalog(cat *catalog, changed func(string, any) bool) {
	name := cat.name
	current := func() (*catalog, *configs.Config) {
		st := s.state.Load()
		return st.catalogs[name], st.cfg
	}
	readOnly, closed := true, false
	search := &mcp.Tool{
		Name:        name + "_search",
		Description: fmt.Sprintf("Search the %d operations of the %s API by words in their name, path or description. Returns operation names for %s_describe and %s_call.", len(cat.order), name, name, name),
		InputSchema: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string","description":"words to look for"},"limit":{"type":"integer","minimum":1,"maximum":50,"default":10}},"required":["query"],"additionalProperties":false}`),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: readOnly, IdempotentHint: true, DestructiveHint: &closed, OpenWorldHint: &closed},
	}
	if changed("tool "+search.Name, search) {
		s.mcp.AddTool(search, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			cat, cfg := current()
			var in struct {
				Query string `json:"query"`
				Limit int    `json:"limit"`
			}
			if err := strictArgs(req.Params.Arguments, &in); err != nil || strings.TrimSpace(in.Query) == "" || cat == nil {
				return errorResult(cfg, name+"_search: want {\"query\": \"words\", \"limit\": 1 to 50}"), nil
			}
			if in.Limit <= 0 {
				in.Limit = defaultSearchLimit
			}
			in.Limit = min(in.Limit, maxSearchLimit)
			return jsonResult(map[string]any{"operations": cat.search(in.Query, in.Limit)}), nil
		})
	}
	describe := &mcp.Tool{
		Name:        name + "_describe",
		Description: fmt.Sprintf("Describe one operation of the %s API: what it does and the JSON Schema of its arguments.", name),
		InputSchema: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string","description":"an operation name from ` + name + `_search"}},"required":["name"],"additionalProperties":false}`),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: readOnly, IdempotentHint: true, DestructiveHint: &closed, OpenWorldHint: &closed},
	}
	if changed("tool "+describe.Name, describe) {
		s.mcp.AddTool(describe, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			cat, cfg := current()
			var in struct {
				Name string `json:"name"`
			}
			if err := strictArgs(req.Params.Arguments, &in); err != nil || cat == nil {
				return errorResult(cfg, name+"_describe: want {\"name\": \"operation\"}"), nil
			}
			e, ok := cat.entries[in.Name]
			if !ok {
				return errorResult(cfg, fmt.Sprintf("%s_describe: no operation named %q (find names with %s_search)", name, in.Name, name)), nil
			}
			d := e.tool.Descriptor()
			return jsonResult(map[string]any{
				"name": d.Name, "title": d.Title, "operation": cat.ops[d.Name], "description": d.Description,
				"inputSchema": d.InputSchema, "readOnly": d.Hints.ReadOnly, "destructive": d.Hints.Destructive,
			}), nil
		})
	}
	call := &mcp.Tool{
		Name:        name + "_call",
		Description: fmt.Sprintf("Call one operation of the %s API with arguments matching the schema %s_describe gives.", name, name),
		InputSchema: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"arguments":{"type":"object"}},"required":["name"],"additionalProperties":false}`),
	}
	if changed("tool "+call.Name, call) {
		s.mcp.AddTool(call, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			cat, cfg := current()
			var in struct {
				Name      string          `json:"name"`
				Arguments json.RawMessage `json:"arguments"`
			}
			if err := strictArgs(req.Params.Arguments, &in); err != nil || cat == nil {
				return errorResult(cfg, name+"_call: want {\"name\": \"operation\", \"arguments\": {…}}"), nil
			}
			e, ok := cat.entries[in.Name]
			if !ok {
				return errorResult(cfg, fmt.Sprintf("%s_call: no operation named %q (find names with %s_search)", name, in.Name, name)), nil
			}
			if len(in.Arguments) == 0 {
				in.Arguments = json.RawMessage("{}")
			}
			return s.invoke(ctx, e, req, &mcp.CallToolParamsRaw{Name: in.Name, Arguments: in.Arguments, Meta: req.Params.Meta}), nil
		})
	}
}

// search ranks operations by how many query words their name, operation,
// title and description contain (name and operation count double).
func (c *catalog) search(query string, limit int) []map[string]any {
	words := strings.Fields(strings.ToLower(query))
	type hit struct {
		name  string
		score int
	}
	var hits []hit
	for _, name := range c.order {
		d := c.entries[name].tool.Descriptor()
		key := strings.ToLower(name + " " + c.ops[name])
		text := strings.ToLower(d.Title + " " + d.Description)
		score := 0
		for _, w := range words {
			if strings.Contains(key, w) {
				score += 2
			}
			if strings.Contains(text, w) {
				score++
			}
		}
		if score > 0 {
			hits = append(hits, hit{name, score})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].score > hits[j].score })
	out := []map[string]any{}
	for _, h := range hits[:min(limit, len(hits))] {
		d := c.entries[h.name].tool.Descriptor()
		summary := d.Title
		if summary == "" {
			summary = d.Description
		}
		if len(summary) > 160 {
			summary = summary[:157] + "..."
		}
		out = append(out, map[string]any{"name": h.name, "operation": c.ops[h.name], "summary": summary})
	}
	return out
}

// strictArgs decodes tool arguments, refusing unknown fields.
func strictArgs(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func jsonResult(v any) *mcp.CallToolResult {
	b, err := json.Marshal(v)
	if err != nil {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}, StructuredContent: json.RawMessage(b)}
}
