package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/api2mcp/api2mcp/configs"
	"github.com/api2mcp/api2mcp/proxy"
)

// settings are the command-line flags.
type settings struct {
	clients    int
	duration   time.Duration
	maxCalls   int
	latency    time.Duration
	distinct   int
	bodyBytes  int
	maxEntries int
	maxBytes   int64
	idle       int
	sessions   int
	rate       int
	binary     string
	cpuProfile string
	profiled   string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("api2mcp-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s settings
	fs.IntVar(&s.clients, "c", 16, "concurrent clients")
	fs.DurationVar(&s.duration, "d", 3*time.Second, "duration of each scenario")
	fs.IntVar(&s.maxCalls, "n", 1_000_000, "at most this many calls per scenario")
	fs.DurationVar(&s.latency, "latency", 2*time.Millisecond, "time the upstream takes to answer (its own work)")
	fs.IntVar(&s.distinct, "distinct", 200, "distinct arguments in the workload with repeats")
	fs.IntVar(&s.bodyBytes, "body", 1024, "upstream response size in bytes")
	fs.IntVar(&s.maxEntries, "max-entries", 10_000, "cache max_entries for the memory measurement")
	fs.Int64Var(&s.maxBytes, "max-bytes", 64<<20, "cache max_bytes for the memory measurement")
	fs.IntVar(&s.idle, "idle", 1000, "idle keep-alive clients for the per-client memory measurement")
	fs.IntVar(&s.sessions, "sessions", 10_000, "stateful sessions for the per-session memory measurement (0: none)")
	fs.IntVar(&s.rate, "rate", 1000, "calls/s of each kind (direct, proxied) in the fixed-rate latency measurement, spread over the clients (0: none)")
	fs.StringVar(&s.binary, "binary", "", "an api2mcp binary: also measure the proxy in its own process (api2mcp serve), as deployed")
	fs.StringVar(&s.cpuProfile, "cpuprofile", "", "write a CPU profile of one scenario (this whole process) to this file")
	fs.StringVar(&s.profiled, "profile", "proxied", "the scenario -cpuprofile profiles, by its name in the table")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if s.clients < 1 || s.duration <= 0 || s.maxCalls < 1 || s.distinct < 1 || s.bodyBytes < 16 || s.idle < 1 || s.sessions < 0 || s.rate < 0 {
		fmt.Fprintln(stderr, "api2mcp-bench: -c, -d, -n, -distinct, -idle must be positive, -sessions and -rate not negative and -body at least 16")
		return 2
	}
	if err := bench(ctx, s, stdout); err != nil {
		fmt.Fprintln(stderr, "api2mcp-bench:", err)
		return 1
	}
	return 0
}

// upstream is the local API: GET /items/{id} answers a JSON object of about
// bodyBytes after latency.
type upstream struct {
	calls   atomic.Int64
	latency time.Duration
	filler  string

	floorOnce sync.Once
	floor     []byte // the floor scenario's answer, made once
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/floor" {
		// The floor scenario: a tools/call's POST answered without work.
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "0123456789abcdef01234567")
		u.floorOnce.Do(func() {
			u.floor = fmt.Appendf(nil, `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":%q}],"structuredContent":%q}}`, u.filler, u.filler)
		})
		w.Write(u.floor)
		return
	}
	u.calls.Add(1)
	if u.latency > 0 {
		time.Sleep(u.latency)
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":%q,"filler":%q}`, strings.TrimPrefix(r.URL.Path, "/items/"), u.filler)
}

// relay is the lightest gateway the standard library makes: it reads a
// tools/call's POST, makes the GET the proxy would make (net/http's client,
// keep-alive) and writes the upstream's body back in a JSON-RPC envelope,
// with no JSON-RPC parsing, validation or checks of any kind. Its calls/s
// against the direct call's is the ceiling of any two-hop path on this
// machine in this run: the proxy's own work is what it falls short of it.
type relay struct {
	client *http.Client
	target string
}

func (rl *relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	resp, err := rl.client.Get(rl.target)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out := make([]byte, 0, len(body)+64)
	out = append(out, `{"jsonrpc":"2.0","id":1,"result":{"content":[],"structuredContent":`...)
	out = append(out, body...)
	out = append(out, "}}"...)
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

const configTemplate = `
server: { max_request_bytes: 65536%s }
cache: { max_entries: %d, max_bytes: %d }
upstreams:
  api: { url: %q, max_concurrent: 256 }
tools:
  - name: get_item
    upstream: api
    path: /items/{id}
    input: { type: object, properties: { id: { type: integer } }, required: [id] }
  - name: get_item_cached
    upstream: api
    path: /items/{id}
    input: { type: object, properties: { id: { type: integer } }, required: [id] }
    cache: { ttl: 10m }
`

// authSection puts the proxy of the JWT scenario behind the OAuth front
// door, with the local issuer.
const authSection = `
auth:
  mode: oauth
  oauth: { issuer: %q }
`

// serveProxy builds a proxy from yaml and serves it on loopback; stop ends
// both.
func serveProxy(ctx context.Context, yaml string) (string, func(), error) {
	srv, err := newProxy(yaml)
	if err != nil {
		return "", nil, err
	}
	url, stop, err := listen("api2mcp", srv.Handler(ctx))
	if err != nil {
		srv.Close()
		return "", nil, err
	}
	return url, func() { stop(); srv.Close() }, nil
}

func bench(ctx context.Context, s settings, out io.Writer) error {
	up := &upstream{latency: s.latency, filler: strings.Repeat("x", s.bodyBytes-16)}
	upURL, stopUp, err := listen("upstream", up)
	if err != nil {
		return err
	}
	defer stopUp()
	front, stopFront, err := serveProxy(ctx, fmt.Sprintf(configTemplate, "", s.maxEntries, s.maxBytes, upURL))
	if err != nil {
		return err
	}
	defer stopFront()

	// The same proxy behind the front door: every call carries an RS256
	// JWT that is verified against the issuer's key set.
	is, err := newIssuer()
	if err != nil {
		return err
	}
	isURL, stopIs, err := listen("issuer", is)
	if err != nil {
		return err
	}
	defer stopIs()
	is.url = isURL
	const resource = "http://127.0.0.1/mcp"
	// resource is the proxy's public URL: the tokens' audience.
	authedFront, stopAuthed, err := serveProxy(ctx, fmt.Sprintf(authSection, isURL)+
		fmt.Sprintf(configTemplate, fmt.Sprintf(", public_url: %q", resource), s.maxEntries, s.maxBytes, upURL))
	if err != nil {
		return err
	}
	defer stopAuthed()
	token, err := is.token(resource, "bench")
	if err != nil {
		return err
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: s.clients * 2, Proxy: nil}}
	defer client.CloseIdleConnections()
	relayClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: s.clients * 2, Proxy: nil}}
	defer relayClient.CloseIdleConnections()
	relayURL, stopRelay, err := listen("relay", &relay{client: relayClient, target: upURL + "/items/1"})
	if err != nil {
		return err
	}
	defer stopRelay()
	fmt.Fprintf(out, "api2mcp-bench: %d clients, %s or %d calls per scenario, upstream latency %s, %d-byte bodies, GOMAXPROCS %d\n",
		s.clients, s.duration, s.maxCalls, s.latency, s.bodyBytes, runtime.GOMAXPROCS(0))
	fmt.Fprintln(out, "CPU/call is the CPU time (user+system) of this whole process — load generator, upstream and proxy — over the calls; RSS is the process's VmRSS after the scenario")
	fmt.Fprintf(out, "%-22s %10s %10s %10s %10s %10s %8s %9s %9s\n", "scenario", "calls", "calls/s", "p50", "p99", "CPU/call", "RSS MiB", "vs direct", "CPU vs d.")

	direct := func(_ *rand.Rand) error {
		resp, err := client.Get(upURL + "/items/1")
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	}
	// The same POST as a tools/call (body, headers), answered at once with
	// about as many bytes: what any tools/call over HTTP costs at least.
	post := func(url string) func(*rand.Rand) error {
		return func(*rand.Rand) error {
			resp, err := sendCall(client, url, "", "get_item", 1)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			return err
		}
	}
	floor := post(upURL + "/floor")
	call := func(front, token, tool string, id func(*rand.Rand) int) func(*rand.Rand) error {
		return func(rng *rand.Rand) error {
			return toolCall(client, front, token, tool, id(rng))
		}
	}
	one := func(*rand.Rand) int { return 1 }
	// The first JWT call fetches the issuer's metadata and keys.
	if err := toolCall(client, authedFront, token, "get_item", 1); err != nil {
		return fmt.Errorf("proxied + JWT: %w", err)
	}
	var base result
	byName := map[string]result{}
	scenarios := []struct {
		name string
		fn   func(*rand.Rand) error
	}{
		{"direct upstream", direct},
		{"POST floor", floor},
		{"relay floor", post(relayURL + "/mcp")},
		{"proxied", call(front, "", "get_item", one)},
		{"proxied + JWT", call(authedFront, token, "get_item", one)},
		{"proxied, cache hits", call(front, "", "get_item_cached", one)},
	}
	for _, sc := range scenarios {
		var stopProfile func() error
		if sc.name == s.profiled && s.cpuProfile != "" {
			if stopProfile, err = startCPUProfile(s.cpuProfile); err != nil {
				return err
			}
		}
		r, err := load(ctx, s, sc.fn)
		if stopProfile != nil {
			if perr := stopProfile(); perr != nil && err == nil {
				err = perr
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		if base.calls == 0 {
			base = r
		}
		r.print(out, sc.name, base)
		byName[sc.name] = r
	}
	direct0, floor0, relay0, proxied, withJWT, cached := byName["direct upstream"], byName["POST floor"], byName["relay floor"], byName["proxied"], byName["proxied + JWT"], byName["proxied, cache hits"]
	fmt.Fprintf(out, "ratios: proxied/direct %.2f (target ≥ 0.50), JWT/proxied %.2f (target ≥ 0.80), cache hits/direct %.2f (target > 1), added p99 %s (target ≤ 1ms)\n",
		proxied.rate()/direct0.rate(), withJWT.rate()/proxied.rate(), cached.rate()/direct0.rate(),
		(proxied.quantile(0.99) - direct0.quantile(0.99)).Round(time.Microsecond))
	fmt.Fprintf(out, "against the POST floor: cache hits %.2f of its calls/s, %s CPU/call more; proxied %.2f of its calls/s\n",
		cached.rate()/floor0.rate(), (cached.cpuPerCall() - floor0.cpuPerCall()).Round(100*time.Nanosecond), proxied.rate()/floor0.rate())
	fmt.Fprintf(out, "against the relay floor (a pass-through doing no work, the ceiling of two hops here: %.2f of direct): proxied %.2f of its calls/s, %s CPU/call more\n",
		relay0.rate()/direct0.rate(), proxied.rate()/relay0.rate(), (proxied.cpuPerCall() - relay0.cpuPerCall()).Round(100*time.Nanosecond))

	// Latency added at a fixed rate below saturation: with every client
	// calling as fast as it can, p99 is mostly the queue of a saturated
	// machine (and a costlier call queues longer); at a fixed rate it is
	// the time a call itself takes.
	if s.rate > 0 {
		pd, pp, noise, err := paced(ctx, s, direct, call(front, "", "get_item", one))
		if err != nil {
			return fmt.Errorf("at a fixed rate: %w", err)
		}
		fmt.Fprintf(out, "at a fixed %d calls/s each, interleaved, from %d clients: direct p50 %s p99 %s (%d calls), proxied p50 %s p99 %s (%d calls): added p50 %s, added p99 %s (target ≤ 1ms)\n",
			s.rate, s.clients, pd.quantile(0.5).Round(time.Microsecond), pd.quantile(0.99).Round(time.Microsecond), pd.calls,
			pp.quantile(0.5).Round(time.Microsecond), pp.quantile(0.99).Round(time.Microsecond), pp.calls,
			(pp.quantile(0.5) - pd.quantile(0.5)).Round(time.Microsecond), (pp.quantile(0.99) - pd.quantile(0.99)).Round(time.Microsecond))
		noise.printNoise(out)
	}

	if s.binary != "" {
		if err := ownProcess(ctx, s, out, upURL, direct, base, client); err != nil {
			return fmt.Errorf("own process: %w", err)
		}
	}

	// A workload with repeats: ids drawn from a Zipf distribution over
	// distinct values, as agents repeat a few calls often and many rarely.
	// Ids are offset so that no entry from the scenarios above is reused.
	before := up.calls.Load()
	zipfs := sync.Map{}
	repeats := func(rng *rand.Rand) int {
		z, _ := zipfs.LoadOrStore(rng, rand.NewZipf(rng, 1.1, 1, uint64(s.distinct-1)))
		return 1000 + int(z.(*rand.Zipf).Uint64())
	}
	r, err := load(ctx, s, call(front, "", "get_item_cached", repeats))
	if err != nil {
		return fmt.Errorf("repeats: %w", err)
	}
	r.print(out, "proxied, with repeats", base)
	upstreamCalls := up.calls.Load() - before
	fmt.Fprintf(out, "repeats: %d tool calls over %d distinct ids, %d upstream calls: hit ratio %.1f%%, %d upstream calls saved\n",
		r.calls, s.distinct, upstreamCalls, 100*float64(r.calls-upstreamCalls)/float64(r.calls), r.calls-upstreamCalls)

	if err := cacheMemory(ctx, s, out); err != nil {
		return err
	}
	if err := idleClients(ctx, s, out); err != nil {
		return err
	}
	if s.sessions == 0 {
		return nil
	}
	return sessionMemory(ctx, s, out)
}

// cacheMemory fills a fresh proxy's cache to its bounds (more distinct calls
// than max_entries) and reports the heap it holds.
func cacheMemory(ctx context.Context, s settings, out io.Writer) error {
	up := &upstream{filler: strings.Repeat("x", s.bodyBytes-16)}
	upURL, stopUp, err := listen("upstream", up)
	if err != nil {
		return err
	}
	defer stopUp()
	srv, err := newProxy(fmt.Sprintf(configTemplate, "", s.maxEntries, s.maxBytes, upURL))
	if err != nil {
		return err
	}
	defer srv.Close()
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	start := heap()
	fill := s.maxEntries + s.maxEntries/10
	if byBytes := int(s.maxBytes / int64(s.bodyBytes)); byBytes < s.maxEntries {
		fill = byBytes + byBytes/10
	}
	for i := range fill {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, isErr, err := srv.CallTool(ctx, "get_item_cached", json.RawMessage(fmt.Sprintf(`{"id":%d}`, i))); err != nil || isErr {
			return fmt.Errorf("filling the cache: call %d failed (%v)", i, err)
		}
	}
	entries, accounted := srv.CacheStats()
	held := int64(heap()) - int64(start)
	fmt.Fprintf(out, "cache at its bounds (max_entries %d, max_bytes %d): %d calls made, %d entries, %.1f MiB accounted, %.1f MiB heap held (%.0f bytes per entry)\n",
		s.maxEntries, s.maxBytes, fill, entries, float64(accounted)/(1<<20), float64(held)/(1<<20), float64(held)/float64(max(entries, 1)))
	runtime.KeepAlive(srv)
	return nil
}

func newProxy(yaml string) (*proxy.Server, error) {
	cfg, err := configs.Load("bench.yaml", &configs.Options{
		Environ:   func() []string { return nil },
		LookupEnv: func(string) (string, bool) { return "", false },
		ReadFile:  func(string) ([]byte, error) { return []byte(yaml), nil },
	})
	if err != nil {
		return nil, err
	}
	return proxy.New(cfg, nil)
}

// listen serves h on a fresh 127.0.0.1 port until the returned stop. Its
// goroutines carry the profiler label role (the connections' goroutines
// inherit it from the one serving), so that a -cpuprofile splits the
// process's CPU between the proxy, the upstream and the load generator:
//
//	go tool pprof -tags api2mcp-bench cpu.prof
func listen(role string, h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go pprof.Do(context.Background(), pprof.Labels("role", role), func(context.Context) { hs.Serve(ln) })
	return "http://" + ln.Addr().String(), func() { hs.Close() }, nil
}

// sendCall POSTs a tools/call of tool with {"id": id} to url, as an MCP
// client sends it (token, if any, as the bearer).
func sendCall(client *http.Client, url, token, tool string, id int) (*http.Response, error) {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{"id":%d}}}`, tool, id)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return client.Do(req)
}

// toolCall makes a tools/call through the proxy at front and checks that
// it answered a structured result that is not an error.
func toolCall(client *http.Client, front, token, tool string, id int) error {
	resp, err := sendCall(client, front+"/mcp", token, tool, id)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte(`"structuredContent"`)) || bytes.Contains(out, []byte(`"isError":true`)) {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, out)
	}
	return nil
}

// result is one scenario's calls, their latencies (sorted), the process's
// CPU time over the scenario and its RSS after it (negative: not measured).
type result struct {
	calls     int64
	elapsed   time.Duration
	latencies []time.Duration
	cpu       time.Duration
	rss       int64
}

func (r result) rate() float64 { return float64(r.calls) / r.elapsed.Seconds() }

// cpuPerCall is the process's CPU time per call; negative when not
// measured.
func (r result) cpuPerCall() time.Duration {
	if r.cpu < 0 {
		return -1
	}
	return r.cpu / time.Duration(r.calls)
}

func (r result) quantile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
}

// printNoise reports r as the machine's scheduling noise (see paced).
func (r result) printNoise(out io.Writer) {
	fmt.Fprintf(out, "the machine's own noise meanwhile: a goroutine sleeping 1ms woke late by p50 %s, p99 %s, max %s (%d wake-ups)\n",
		r.quantile(0.5).Round(time.Microsecond), r.quantile(0.99).Round(time.Microsecond), r.quantile(1).Round(time.Microsecond), r.calls)
}

func (r result) print(out io.Writer, name string, base result) {
	cpu, cpuRatio, mem := "n/a", "n/a", "n/a"
	if c := r.cpuPerCall(); c >= 0 {
		cpu = c.Round(100 * time.Nanosecond).String()
		if b := base.cpuPerCall(); b > 0 {
			cpuRatio = fmt.Sprintf("%.2fx", float64(c)/float64(b))
		}
	}
	if r.rss >= 0 {
		mem = fmt.Sprintf("%.1f", float64(r.rss)/(1<<20))
	}
	fmt.Fprintf(out, "%-22s %10d %10.0f %10s %10s %10s %8s %8.2fx %9s\n", name, r.calls, r.rate(),
		r.quantile(0.50).Round(time.Microsecond), r.quantile(0.99).Round(time.Microsecond), cpu, mem, r.rate()/base.rate(), cpuRatio)
}

// paced runs direct and proxied calls from s.clients goroutines at s.rate
// calls/s of each, for s.duration (at most s.maxCalls calls), each client
// on its own schedule and alternating the two, so that both see the same
// moments of a shared machine (a noisy second taken by one and not the
// other would otherwise be read as latency added or saved). A client that
// falls behind skips the slots it missed rather than bursting. Latency is
// measured from each call's start.
//
// The third result is the machine's own noise over the same time: how late
// a goroutine sleeping 1ms at a time wakes. An added p99 well under that
// noise's p99 cannot be told apart from it.
func paced(ctx context.Context, s settings, direct, proxied func(*rand.Rand) error) (result, result, result, error) {
	interval := time.Duration(float64(time.Second) * float64(s.clients) / float64(2*s.rate))
	noiseCtx, stopNoise := context.WithCancel(ctx)
	noiseDone := make(chan []time.Duration, 1)
	go func() { noiseDone <- oversleeps(noiseCtx, time.Millisecond) }()
	rs, err := drive(ctx, s, []func(*rand.Rand) error{direct, proxied}, func(w int, begin time.Time) func(ctx context.Context) bool {
		next := begin.Add(interval * time.Duration(w) / time.Duration(s.clients))
		timer := time.NewTimer(0)
		return func(ctx context.Context) bool {
			timer.Reset(time.Until(next))
			select {
			case <-ctx.Done():
				timer.Stop()
				return false
			case <-timer.C:
			}
			next = next.Add(interval)
			if now := time.Now(); next.Before(now) {
				next = now
			}
			return true
		}
	})
	stopNoise()
	late := <-noiseDone
	if err != nil {
		return result{}, result{}, result{}, err
	}
	for i := range rs {
		rs[i].cpu, rs[i].rss = -1, -1
	}
	slices.Sort(late)
	return rs[0], rs[1], result{calls: int64(len(late)), latencies: late, cpu: -1, rss: -1}, nil
}

// oversleeps sleeps period at a time until ctx ends and returns how late
// each wake-up was.
func oversleeps(ctx context.Context, period time.Duration) []time.Duration {
	var late []time.Duration
	timer := time.NewTimer(period)
	defer timer.Stop()
	for t0 := time.Now(); ; t0 = time.Now() {
		select {
		case <-ctx.Done():
			return late
		case <-timer.C:
		}
		late = append(late, time.Since(t0)-period)
		timer.Reset(period)
	}
}

// load runs fn from s.clients goroutines, each calling again as soon as
// its call returns, until s.duration has passed or s.maxCalls calls were
// made; the first error stops it.
func load(ctx context.Context, s settings, fn func(*rand.Rand) error) (result, error) {
	cpu0, cpuOK := cpuTime()
	rs, err := drive(ctx, s, []func(*rand.Rand) error{fn}, nil)
	if err != nil {
		return result{}, err
	}
	r := rs[0]
	cpu1, _ := cpuTime()
	r.cpu, r.rss = cpu1-cpu0, -1
	if !cpuOK {
		r.cpu = -1
	}
	if m, ok := rss(); ok {
		r.rss = m
	}
	return r, nil
}

// drive runs fns from s.clients goroutines for s.duration or s.maxCalls
// calls in all, each client taking them in turn (client w starts with
// fns[w%len(fns)]), and returns one result per fn. pace, when set, makes
// each client's wait before a call (false: stop). The first error stops
// every client.
func drive(ctx context.Context, s settings, fns []func(*rand.Rand) error, pace func(w int, begin time.Time) func(context.Context) bool) ([]result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.duration)
	defer cancel()
	var started atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	all := make([][]time.Duration, len(fns))
	var firstErr error
	begin := time.Now()
	for w := range s.clients {
		wg.Go(func() {
			defer pprof.SetGoroutineLabels(ctx)
			pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("role", "load generator")))
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			wait := func(ctx context.Context) bool { return ctx.Err() == nil }
			if pace != nil {
				wait = pace(w, begin)
			}
			mine := make([][]time.Duration, len(fns))
			for i := w; started.Add(1) <= int64(s.maxCalls) && wait(ctx); i++ {
				k := i % len(fns)
				t0 := time.Now()
				if err := fns[k](rng); err != nil {
					mu.Lock()
					if firstErr == nil && ctx.Err() == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					break
				}
				mine[k] = append(mine[k], time.Since(t0))
			}
			mu.Lock()
			for k := range mine {
				all[k] = append(all[k], mine[k]...)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	if firstErr != nil {
		return nil, firstErr
	}
	rs := make([]result, len(fns))
	for k, lat := range all {
		if len(lat) == 0 {
			return nil, errors.New("no call completed")
		}
		slices.Sort(lat)
		rs[k] = result{calls: int64(len(lat)), elapsed: elapsed, latencies: lat}
	}
	return rs, nil
}

// ownProcess measures the proxy as deployed: the api2mcp binary serving
// the same config in its own process, so that the load generator and the
// upstream (in this one) do not share its scheduler and collector. The
// proxy's CPU is read from /proc and shown beside this process's.
func ownProcess(ctx context.Context, s settings, out io.Writer, upURL string, direct func(*rand.Rand) error, base result, client *http.Client) error {
	dir, err := os.MkdirTemp("", "api2mcp-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "mcp.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(configTemplate, "", s.maxEntries, s.maxBytes, upURL)), 0o600); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, s.binary, "serve", "-c", cfg, "--listen", addr, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	front := "http://" + addr
	ready := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := client.Get(front + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ready = true
				break
			}
		}
	}
	if !ready {
		return errors.New("api2mcp serve did not become ready within 10s")
	}
	proxied := func(*rand.Rand) error { return toolCall(client, front, "", "get_item", 1) }
	pid := cmd.Process.Pid
	proxyCPU0, proxyOK := processCPU(pid)
	r, err := load(ctx, s, proxied)
	if err != nil {
		return err
	}
	proxyCPU1, _ := processCPU(pid)
	proxyRSS, rssOK := processRSS(pid)
	here := r.cpuPerCall()
	r.cpu, r.rss = -1, -1 // the table's CPU is the whole path's, not only this process's
	r.print(out, "proxied, own process", base)
	fmt.Fprintf(out, "own process: proxied/direct %.2f, added p99 %s (flat out)", r.rate()/base.rate(),
		(r.quantile(0.99) - base.quantile(0.99)).Round(time.Microsecond))
	if proxyOK && rssOK {
		// This process's CPU over the scenario is the load generator's and
		// the upstream's; the direct scenario's was the same two for one hop.
		fmt.Fprintf(out, "; the api2mcp process: %s CPU/call, %.1f MiB RSS; this process (load generator and upstream): %s CPU/call, against %s in the direct scenario",
			((proxyCPU1 - proxyCPU0) / time.Duration(r.calls)).Round(100*time.Nanosecond), float64(proxyRSS)/(1<<20),
			here.Round(100*time.Nanosecond), base.cpuPerCall().Round(100*time.Nanosecond))
	}
	fmt.Fprintln(out)
	if s.rate > 0 {
		pd, pp, noise, err := paced(ctx, s, direct, proxied)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "own process at a fixed %d calls/s each, interleaved: direct p50 %s p99 %s, proxied p50 %s p99 %s: added p50 %s, added p99 %s (target ≤ 1ms)\n",
			s.rate, pd.quantile(0.5).Round(time.Microsecond), pd.quantile(0.99).Round(time.Microsecond),
			pp.quantile(0.5).Round(time.Microsecond), pp.quantile(0.99).Round(time.Microsecond),
			(pp.quantile(0.5) - pd.quantile(0.5)).Round(time.Microsecond), (pp.quantile(0.99) - pd.quantile(0.99)).Round(time.Microsecond))
		noise.printNoise(out)
	}
	return nil
}

// startCPUProfile profiles this process into path until the returned stop.
func startCPUProfile(path string) (func() error, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
