package proxy

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// fastVersions are the protocol versions whose stateless tools/call the
// fast path answers; it leaves 2026-07-28 (result types, discovery
// metadata) to the SDK.
var fastVersions = map[string]bool{"2025-03-26": true, "2025-06-18": true, "2025-11-25": true}

// fastCall answers the most common request of a stateless server — one
// tools/call of a known tool, under a 2025 protocol version, answered as
// JSON — through the same invoke path as the SDK's tool handler, without the SDK's
// per-request session and message decoding (about 300 KB of garbage per
// call). Anything else, including every malformed or unusual request, goes
// to next, the SDK: the fast path never answers what it does not fully
// understand. fastpath_test.go checks both give the same bytes.
func (s *Server) fastCall(next http.Handler) http.Handler {
	if s.cfg.Server.Stateful || s.noFastPath {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// callOf: checkBody read the body as a plain tools/call
		// (parseCall); anything unusual is the SDK's.
		msg, ok := callOf(r)
		if !ok || r.Method != http.MethodPost || !fastVersions[r.Header.Get("Mcp-Protocol-Version")] || !fastHeaders(r) {
			next.ServeHTTP(w, r)
			return
		}
		e, ok := s.state.Load().tools[msg.name]
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		// The handler runs on this request's context: no link to it is
		// needed, and a client's own link header must not name another's.
		delete(r.Header, requestLinkHeader) // the key is canonical: no Del
		req := &mcp.CallToolRequest{
			Params: &mcp.CallToolParamsRaw{Name: msg.name, Arguments: msg.arguments},
			Extra:  &mcp.RequestExtra{Header: r.Header, TokenInfo: auth.TokenInfoFromContext(r.Context())},
		}
		res, result := s.run(r.Context(), e, req, req.Params, true)
		size := len(result)
		if result == nil {
			size = resultSizeHint(res)
		}
		buf := make([]byte, 0, size+len(msg.id)+len(`{"jsonrpc":"2.0","id":,"result":}`))
		buf = append(buf, `{"jsonrpc":"2.0","id":`...)
		buf = append(buf, msg.id...)
		buf = append(buf, `,"result":`...)
		if result != nil {
			buf = append(buf, result...) // a cached result, stored encoded
		} else {
			// appendResult writes MarshalJSON's output (compact, HTML
			// escaped): what an Encoder would write, without compacting
			// it a second time, and into the answer's own buffer.
			var err error
			if buf, err = appendResult(buf, res); err != nil {
				writeRPCError(w, http.StatusInternalServerError, -32603, "encoding the result failed")
				return
			}
		}
		buf = append(buf, '}')
		w.Header()["Content-Type"] = jsonContentType
		w.WriteHeader(http.StatusOK)
		w.Write(buf)
	})
}

// jsonContentType is the fast path's Content-Type; header values are
// shared and never modified.
var jsonContentType = []string{"application/json"}

// fastHeaders checks what the SDK checks of a stateless POST: a JSON body
// and an Accept header naming JSON and event streams.
func fastHeaders(r *http.Request) bool {
	// The common value is checked as it is; ParseMediaType (which makes a
	// map of parameters) decides the others.
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return false
		}
	}
	jsonOK, streamOK := false, false
	for _, v := range r.Header.Values("Accept") {
		for _, tok := range strings.Split(v, ",") {
			base, _, _ := strings.Cut(strings.TrimSpace(tok), ";")
			switch strings.ToLower(strings.TrimSpace(base)) {
			case "application/json", "application/*":
				jsonOK = true
			case "text/event-stream", "text/*":
				streamOK = true
			case "*/*":
				jsonOK, streamOK = true, true
			}
		}
	}
	return jsonOK && streamOK
}

// plainID reports whether id is a JSON number or string (not null, absent,
// or anything else).
func plainID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	switch id[0] {
	case '"':
		return true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}
