package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/api2mcp/api2mcp/authn/authntest"
	"github.com/api2mcp/api2mcp/configs"
)

// The benchmarks measure the cost of going through api2mcp against calling
// the upstream directly, over real loopback HTTP, with 16 concurrent callers
// (b.SetParallelism on the machine's GOMAXPROCS). Compare ns/op of
// BenchmarkUpstreamDirect and BenchmarkProxiedToolCall from one run:
//
//	go test ./proxy -run '^$' -bench 'UpstreamDirect|PostFloor|ProxiedToolCall|CachedToolCall' -benchmem
const benchConcurrency = 16

var petJSON = []byte(`{"id":1,"name":"Rex","status":"available","tags":["dog"]}`)

// petsJSON is a larger answer, pretty-printed as some APIs (GitHub's) send
// them: 32 KiB of a list of pets with quotes, markup and accents in them.
var petsJSON = func() []byte {
	var pets []map[string]any
	for i := 0; ; i++ {
		pets = append(pets, map[string]any{"id": i, "name": `Rex "the" dog`, "status": "available", "tags": []string{"dog", "good"}, "note": "<b>café</b> & more"})
		if b, _ := json.MarshalIndent(pets, "", "  "); len(b) >= 32<<10 {
			return b
		}
	}
}()

func benchUpstream(b *testing.B, body []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = benchConcurrency * 2
	return &http.Client{Transport: tr}
}

func BenchmarkUpstreamDirect(b *testing.B) { benchDirect(b, petJSON) }

// BenchmarkUpstreamDirect32KiB is the baseline of
// BenchmarkProxiedToolCall32KiB.
func BenchmarkUpstreamDirect32KiB(b *testing.B) { benchDirect(b, petsJSON) }

func benchDirect(b *testing.B, body []byte) {
	up := benchUpstream(b, body)
	client := benchClient()
	b.SetParallelism(benchConcurrency)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(up.URL + "/pets/1")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkPostFloor is the request of BenchmarkProxiedToolCall (a POST
// with the same body and headers) answered by a handler that only reads it
// and writes a fixed answer of a cached result's size: the floor of a
// tools/call over loopback HTTP, which a POST with a body and more headers
// puts above BenchmarkUpstreamDirect's GET.
func BenchmarkPostFloor(b *testing.B) {
	answer := bytes.Repeat([]byte("x"), 200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Header()["X-Request-Id"] = []string{"0123456789abcdef01234567"}
		w.Write(answer)
	}))
	b.Cleanup(srv.Close)
	client := benchClient()
	b.SetParallelism(benchConcurrency)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := postCall(client, srv.URL, "")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// benchCall is the tools/call the benchmarks send.
var benchCall = []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_pet","arguments":{"id":1}}}`)

// postCall POSTs benchCall to base/mcp as an MCP client sends it (token,
// if any, as the bearer).
func postCall(client *http.Client, base, token string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/mcp", bytes.NewReader(benchCall))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return client.Do(req)
}

func BenchmarkProxiedToolCall(b *testing.B) { benchProxied(b, "", "", "", true) }

// BenchmarkProxiedToolCall32KiB is BenchmarkProxiedToolCall with a larger,
// pretty-printed answer: the costs that grow with the body (reading,
// compacting, encoding the result) show here.
func BenchmarkProxiedToolCall32KiB(b *testing.B) { benchProxiedBody(b, "", "", "", true, petsJSON) }

// BenchmarkProxiedToolCallSDK is the same call through the SDK alone (the
// fast path off): the reference the fast path is measured against.
func BenchmarkProxiedToolCallSDK(b *testing.B) { benchProxied(b, "", "", "", false) }

// BenchmarkCachedToolCall is BenchmarkProxiedToolCall with every call a
// cache hit: compare its ns/op with BenchmarkUpstreamDirect's.
func BenchmarkCachedToolCall(b *testing.B) { benchProxied(b, "", "", "cache: { ttl: 1h }", true) }

// BenchmarkProxiedToolCallJWT is BenchmarkProxiedToolCall behind the OAuth
// front door: every call carries an RS256 JWT that is verified (signature,
// issuer, audience, expiry) against a key set fetched from a test issuer.
// Its ns/op over BenchmarkProxiedToolCall's is the cost of JWT validation:
//
//	go test ./proxy -run '^$' -bench 'ProxiedToolCall' -benchmem
func BenchmarkProxiedToolCallJWT(b *testing.B) {
	as := authntest.NewServer(b)
	k := as.NewKey(b, "RS256")
	as.Publish(k)
	auth := fmt.Sprintf(`
server:
  public_url: https://mcp.example.com
auth:
  mode: oauth
  oauth: { issuer: %q }
`, as.Issuer)
	benchProxied(b, auth, as.Sign(b, k, as.Claims("https://mcp.example.com", "bench", "")), "", true)
}

// BenchmarkProxiedToolCallAPIKey is the same with an API key.
func BenchmarkProxiedToolCallAPIKey(b *testing.B) {
	auth := `
auth:
  mode: api_key
  api_keys: [{ name: bench, key: bench-key-0123456789 }]
`
	benchProxied(b, auth, "bench-key-0123456789", "", true)
}

// benchProxied measures tools/call behind auth (a config section; token is
// sent as the bearer) with extra added to the tool.
func benchProxied(b *testing.B, auth, token, extra string, fast bool) {
	benchProxiedBody(b, auth, token, extra, fast, petJSON)
}

func benchProxiedBody(b *testing.B, auth, token, extra string, fast bool, body []byte) {
	up := benchUpstream(b, body)
	yaml := auth + fmt.Sprintf(`
upstreams:
  api: { url: %q, headers: { X-Api-Key: "${KEY}" } }
tools:
  - name: get_pet
    upstream: api
    path: /pets/{id}
    input: { type: object, properties: { id: { type: integer } }, required: [id] }
    %s
`, up.URL, extra)
	cfg, err := configs.Load("mcp.yaml", &configs.Options{
		Environ:   func() []string { return nil },
		LookupEnv: func(string) (string, bool) { return "bench-secret", true },
		ReadFile:  func(string) ([]byte, error) { return []byte(yaml), nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv.noFastPath = !fast
	streams, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	front := httptest.NewServer(srv.Handler(streams))
	b.Cleanup(front.Close)
	client := benchClient()
	b.SetParallelism(benchConcurrency)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := postCall(client, front.URL, token)
			if err != nil {
				b.Error(err)
				return
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte(`"structuredContent"`)) {
				b.Errorf("status %d: %s", resp.StatusCode, out)
				return
			}
		}
	})
}
