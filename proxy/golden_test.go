package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"

	"github.com/api2mcp/api2mcp/configs"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/*.txtar")

// A golden scenario (testdata/*.txtar) holds:
//
//	mcp.yaml             the config; ${UPSTREAM} is the fake upstream's URL,
//	                     ${REFUSED} a URL where nothing listens, ${API_KEY} a secret
//	upstream.json        the fake upstream: "METHOD /escaped/path" → response
//	requests.jsonl       one client message per line, POSTed to /mcp in order;
//	                     {"headers": {...}, "message": {...}} adds HTTP headers,
//	                     {"raw": "..."} sends a body verbatim
//	want/responses.json  what the client gets back: HTTP status and body
//	want/upstream.json   what the upstream received, in order
//
// Run with -update to rewrite the want sections after a deliberate change.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			t.Parallel()
			runGolden(t, file)
		})
	}
}

const goldenSecret = "s3cr3t-golden-key-42"

// Agent API keys of scenarios with auth.mode api_key; requests.jsonl names
// them in its headers.
const (
	goldenReaderKey = "reader-key-0123456789"
	goldenAdminKey  = "admin-key-0123456789"
)

// fakeRoute is one canned upstream response.
type fakeRoute struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	// Body is sent as JSON (numbers keep every digit) unless it is a
	// string, which is sent verbatim.
	Body json.RawMessage `json:"body"`
	// Behaviour: "hang" never answers, "reset" drops the connection,
	// "echo_key" answers 401 quoting the X-Api-Key header it got,
	// "redirect_out" redirects to another origin.
	Behaviour string `json:"behaviour"`
}

type recorded struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

type exchange struct {
	Status int `json:"status"`
	// WWWAuthenticate is the challenge of a 401 or 403.
	WWWAuthenticate string          `json:"www_authenticate,omitempty"`
	Body            json.RawMessage `json:"body"`
}

// recordedHeaders are the upstream request headers a scenario shows.
var recordedHeaders = []string{"X-Api-Key", "Content-Type", "X-Tenant-Id", "X-Request-Tag", "Authorization", "Cookie", "X-Caller", "X-Forwarded-User", "Idempotency-Key"}

func runGolden(t *testing.T, file string) {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string][]byte{}
	for _, f := range ar.Files {
		sections[f.Name] = f.Data
	}
	var routes map[string]fakeRoute
	if err := json.Unmarshal(sections["upstream.json"], &routes); err != nil {
		t.Fatalf("upstream.json: %v", err)
	}

	var mu sync.Mutex
	var got []recorded
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached another origin: %s %s with X-Api-Key=%q", r.Method, r.URL, r.Header.Get("X-Api-Key"))
	}))
	defer other.Close()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Headers: map[string]string{}}
		for _, h := range recordedHeaders {
			if v := r.Header.Get(h); v != "" {
				rec.Headers[h] = v
			}
		}
		if mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
			// The boundary is random: record the parts instead.
			rec.Headers["Content-Type"] = mt
			body = multipartParts(t, body, params["boundary"])
		}
		if len(body) > 0 {
			if json.Valid(body) {
				rec.Body = body
			} else {
				rec.Body, _ = json.Marshal(string(body))
			}
		}
		mu.Lock()
		got = append(got, rec)
		mu.Unlock()
		route, ok := routes[r.Method+" "+r.URL.EscapedPath()]
		if !ok {
			http.Error(w, "no route in upstream.json", http.StatusNotImplemented)
			return
		}
		switch route.Behaviour {
		case "hang":
			<-r.Context().Done()
			return
		case "reset":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
			return
		case "echo_key":
			http.Error(w, "invalid key "+r.Header.Get("X-Api-Key"), http.StatusUnauthorized)
			return
		case "redirect_out":
			http.Redirect(w, r, other.URL+"/stolen", http.StatusFound)
			return
		}
		for k, v := range route.Headers {
			w.Header().Set(k, v)
		}
		var out []byte
		var text string
		switch {
		case route.Body == nil:
		case json.Unmarshal(route.Body, &text) == nil:
			out = []byte(text)
		default:
			out = route.Body
			if w.Header().Get("Content-Type") == "" {
				w.Header().Set("Content-Type", "application/json")
			}
		}
		if route.Status == 0 {
			route.Status = http.StatusOK
		}
		w.WriteHeader(route.Status)
		w.Write(out)
	}))
	defer upstream.Close()
	refused := closedURL(t)

	env := map[string]string{"UPSTREAM": upstream.URL, "REFUSED": refused, "API_KEY": goldenSecret,
		"READER_KEY": goldenReaderKey, "ADMIN_KEY": goldenAdminKey}
	cfg, err := configs.Load("mcp.yaml", &configs.Options{
		Environ: func() []string { return nil },
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		ReadFile: func(name string) ([]byte, error) {
			if b, ok := sections[name]; ok {
				return b, nil
			}
			return nil, os.ErrNotExist
		},
	})
	if err != nil {
		t.Fatalf("loading mcp.yaml: %v", err)
	}
	// A stopped clock: rate-limit waits and cache expiry do not depend on
	// how fast the machine runs the scenario.
	stopped := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv, err := New(cfg, &Options{Now: func() time.Time { return stopped }})
	if err != nil {
		t.Fatal(err)
	}
	streams, cancel := context.WithCancel(context.Background())
	defer cancel()
	front := httptest.NewServer(srv.Handler(streams))
	defer front.Close()

	var exchanges []exchange
	for i, line := range bytes.Split(bytes.TrimSpace(sections["requests.jsonl"]), []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var req struct {
			Headers map[string]string `json:"headers"`
			Message json.RawMessage   `json:"message"`
			Raw     *string           `json:"raw"`
		}
		if err := json.Unmarshal(line, &req); err != nil {
			t.Fatalf("requests.jsonl line %d: %v", i+1, err)
		}
		body := []byte(req.Message)
		switch {
		case req.Raw != nil:
			body = []byte(*req.Raw)
		case req.Message == nil:
			body = line
		}
		hr, _ := http.NewRequest(http.MethodPost, front.URL+"/mcp", bytes.NewReader(body))
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range req.Headers {
			hr.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, sec := range []string{goldenSecret, goldenReaderKey, goldenAdminKey} {
			if bytes.Contains(rb, []byte(sec)) {
				t.Errorf("request %d: a secret reached the client: %s", i+1, rb)
			}
		}
		ex := exchange{Status: resp.StatusCode, WWWAuthenticate: resp.Header.Get("WWW-Authenticate")}
		if json.Valid(rb) {
			ex.Body = rb
		} else {
			ex.Body, _ = json.Marshal(string(rb))
		}
		exchanges = append(exchanges, ex)
	}

	mu.Lock()
	gotUpstream := slices.Clone(got)
	mu.Unlock()
	checkGolden(t, file, ar, "want/responses.json", exchanges)
	checkGolden(t, file, ar, "want/upstream.json", gotUpstream)
}

// checkGolden compares v with a want section, or rewrites it under -update.
func checkGolden(t *testing.T, file string, ar *txtar.Archive, name string, v any) {
	t.Helper()
	gotJSON, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	gotJSON = append(gotJSON, '\n')
	if *update {
		found := false
		for i := range ar.Files {
			if ar.Files[i].Name == name {
				ar.Files[i].Data = gotJSON
				found = true
			}
		}
		if !found {
			ar.Files = append(ar.Files, txtar.File{Name: name, Data: gotJSON})
		}
		if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	var want []byte
	for _, f := range ar.Files {
		if f.Name == name {
			want = f.Data
		}
	}
	if want == nil {
		t.Fatalf("%s: no %s section (run with -update)", file, name)
	}
	w, err := decodeExact(want)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	g, err := decodeExact(gotJSON)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

// closedURL returns an http URL on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// decodeExact decodes JSON keeping numbers as written, so that a lost digit
// is a difference.
func decodeExact(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// multipartParts renders a multipart body as JSON: one object per part.
func multipartParts(t *testing.T, body []byte, boundary string) []byte {
	type part struct {
		Name        string `json:"name"`
		Filename    string `json:"filename,omitempty"`
		ContentType string `json:"content_type,omitempty"`
		Data        string `json:"data"`
	}
	var parts []part
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("bad multipart body: %v", err)
			return body
		}
		data, _ := io.ReadAll(p)
		parts = append(parts, part{Name: p.FormName(), Filename: p.FileName(), ContentType: p.Header.Get("Content-Type"), Data: string(data)})
	}
	b, _ := json.Marshal(parts)
	return b
}
