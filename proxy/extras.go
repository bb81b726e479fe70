package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/api2mcp/api2mcp/configs"
	"github.com/api2mcp/api2mcp/mapping"
)

// addResources registers the resources and resource templates of cfg whose
// definition changed; reads go to their upstreams like tool calls.
func (s *Server) addResources(cfg *configs.Config, changed func(string, any) bool) {
	for _, r := range cfg.Resources {
		h := s.readResource(r.Spec.Name)
		if r.Spec.URITemplate != "" {
			t := &mcp.ResourceTemplate{
				URITemplate: r.Spec.URITemplate,
				Name:        r.Spec.Name,
				Title:       r.Spec.Title,
				Description: r.Spec.Description,
				MIMEType:    r.Spec.MIMEType,
			}
			if changed("template "+r.Spec.URITemplate, t) {
				s.mcp.AddResourceTemplate(t, h)
			}
			continue
		}
		res := &mcp.Resource{
			URI:         r.Spec.URI,
			Name:        r.Spec.Name,
			Title:       r.Spec.Title,
			Description: r.Spec.Description,
			MIMEType:    r.Spec.MIMEType,
		}
		if changed("resource "+r.Spec.URI, res) {
			s.mcp.AddResource(res, h)
		}
	}
}

// readResource reads the resource named name in the state current at the
// read.
func (s *Server) readResource(name string) mcp.ResourceHandler {
	return func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		st := s.state.Load()
		for _, r := range st.cfg.Resources {
			if r.Spec.Name == name {
				c, err := s.resourceContents(ctx, st, r, req.Params.URI)
				if err != nil {
					return nil, err
				}
				return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{c}}, nil
			}
		}
		return nil, mcp.ResourceNotFoundError(req.Params.URI)
	}
}

// resourceContents reads one resource: text for UTF-8 text bodies, a blob
// otherwise. Failures are errors the client sees, without URLs or secrets.
func (s *Server) resourceContents(ctx context.Context, st *state, r *configs.Resource, uri string) (*mcp.ResourceContents, error) {
	vars, ok := r.Match(uri)
	if !ok {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	args, err := jsonObject(vars)
	if err != nil {
		return nil, err
	}
	mr, err := r.Tool.BuildRequest(args, nil)
	if err != nil {
		return nil, fmt.Errorf("resource %s: %v", uri, err)
	}
	resp, err := st.clients[r.Spec.Upstream].do(ctx, mr, nil, nil)
	if err != nil {
		return nil, errors.New(st.cfg.Redact(fmt.Sprintf("resource %s: %v", uri, err)))
	}
	if resp.status < 200 || resp.status > 299 {
		if resp.status == 404 {
			return nil, mcp.ResourceNotFoundError(uri)
		}
		return nil, fmt.Errorf("resource %s: upstream returned HTTP %d", uri, resp.status)
	}
	if len(resp.body) > r.Spec.MaxBytes {
		return nil, fmt.Errorf("resource %s is %d bytes, more than max_bytes (%d)", uri, len(resp.body), r.Spec.MaxBytes)
	}
	mt := r.Spec.MIMEType
	if ct, _, err := mime.ParseMediaType(resp.header.Get("Content-Type")); err == nil && ct != "" {
		mt = ct
	}
	c := &mcp.ResourceContents{URI: uri, MIMEType: mt}
	if isText(mt) && utf8.Valid(resp.body) {
		c.Text = st.cfg.Redact(string(resp.body))
	} else {
		c.Blob = resp.body
	}
	return c, nil
}

func isText(mediaType string) bool {
	return mediaType == "" || strings.HasPrefix(mediaType, "text/") || mediaType == "application/json" ||
		strings.HasSuffix(mediaType, "+json") || strings.HasSuffix(mediaType, "+xml") || mediaType == "application/xml" ||
		mediaType == "application/yaml" || mediaType == "application/javascript"
}

// findResource returns the configured resource a URI names.
func findResource(st *state, uri string) *configs.Resource {
	for _, r := range st.cfg.Resources {
		if _, ok := r.Match(uri); ok {
			return r
		}
	}
	return nil
}

// addPrompts registers the prompts of cfg whose definition changed.
func (s *Server) addPrompts(cfg *configs.Config, changed func(string, any) bool) {
	for _, p := range cfg.Prompts {
		mp := &mcp.Prompt{Name: p.Spec.Name, Title: p.Spec.Title, Description: p.Spec.Description}
		for _, a := range p.Spec.Arguments {
			mp.Arguments = append(mp.Arguments, &mcp.PromptArgument{Name: a.Name, Description: a.Description, Required: a.Required})
		}
		if changed("prompt "+p.Spec.Name, mp) {
			s.mcp.AddPrompt(mp, s.getPrompt(p.Spec.Name))
		}
	}
}

// getPrompt renders the prompt named name in the state current at the call.
func (s *Server) getPrompt(name string) mcp.PromptHandler {
	return func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		st := s.state.Load()
		var p *configs.Prompt
		for _, c := range st.cfg.Prompts {
			if c.Spec.Name == name {
				p = c
			}
		}
		if p == nil {
			return nil, fmt.Errorf("unknown prompt %q", name)
		}
		args := req.Params.Arguments
		for _, a := range p.Spec.Arguments {
			if _, ok := args[a.Name]; a.Required && !ok {
				return nil, fmt.Errorf("prompt %s: argument %q is required", p.Spec.Name, a.Name)
			}
		}
		res := &mcp.GetPromptResult{Description: p.Spec.Description}
		for _, m := range p.Messages {
			v, err := m.Value.Eval(args)
			if err != nil {
				return nil, fmt.Errorf("prompt %s: %v", p.Spec.Name, err)
			}
			msg := &mcp.PromptMessage{Role: mcp.Role(m.Role)}
			switch m.Kind {
			case "text":
				msg.Content = &mcp.TextContent{Text: v}
			default: // resource, image: read a configured resource
				r := findResource(st, v)
				if r == nil {
					return nil, fmt.Errorf("prompt %s: %q names no configured resource", p.Spec.Name, v)
				}
				c, err := s.resourceContents(ctx, st, r, v)
				if err != nil {
					return nil, fmt.Errorf("prompt %s: %v", p.Spec.Name, err)
				}
				if m.Kind == "image" {
					if !strings.HasPrefix(c.MIMEType, "image/") || c.Blob == nil {
						return nil, fmt.Errorf("prompt %s: resource %s is %s, not an image", p.Spec.Name, v, c.MIMEType)
					}
					msg.Content = &mcp.ImageContent{Data: c.Blob, MIMEType: c.MIMEType}
				} else {
					msg.Content = &mcp.EmbeddedResource{Resource: c}
				}
			}
			res.Messages = append(res.Messages, msg)
		}
		return res, nil
	}
}

// contentList converts response.content items to MCP content.
func contentList(items []mapping.Content, redact func(string) string) []mcp.Content {
	out := make([]mcp.Content, 0, len(items))
	for _, it := range items {
		switch it.Type {
		case "text":
			out = append(out, &mcp.TextContent{Text: redact(it.Text)})
		case "image":
			out = append(out, &mcp.ImageContent{Data: it.Data, MIMEType: it.MIMEType})
		case "audio":
			out = append(out, &mcp.AudioContent{Data: it.Data, MIMEType: it.MIMEType})
		case "resource":
			rc := &mcp.ResourceContents{URI: it.URI, MIMEType: it.MIMEType}
			if it.Data != nil {
				rc.Blob = it.Data
			} else {
				rc.Text = redact(it.Text)
			}
			out = append(out, &mcp.EmbeddedResource{Resource: rc})
		}
	}
	return out
}

// complete answers completion/complete: api2mcp knows no values to suggest
// for prompt arguments or template variables, so the list is empty (the
// capability lets clients ask without an error).
func complete(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{}}}, nil
}

// jsonObject encodes string variables as a JSON object of arguments.
func jsonObject(vars map[string]string) (json.RawMessage, error) {
	return json.Marshal(vars)
}
