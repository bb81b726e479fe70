package proxy

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"

	"github.com/api2mcp/api2mcp/configs"
	"github.com/api2mcp/api2mcp/mapping"
)

// A call asks to skip the cache lookup with _meta {"api2mcp/cache":
// "no-cache"}; it is honoured only for tools with cache.bypass.
const (
	bypassMetaKey   = "api2mcp/cache"
	bypassMetaValue = "no-cache"
)

// entryOverhead is the memory an entry costs besides its content: the
// 32-byte key twice (map and list), the list element, the map slot and the
// entry struct. It makes max_bytes bound memory even for tiny results.
const entryOverhead = 256

// cacheDecision is what cachePolicy decided for one call.
type cacheDecision struct {
	key    string // empty: the call neither reads nor fills the cache
	lookup bool   // false: a bypass; the answer still refreshes the entry
	ttl    time.Duration
	shared bool
}

// cachePolicy decides whether a call may be answered from the cache or
// fill it, and under which key. It is the only place that does.
//
// The key is a SHA-256 of: the tool name; the scope, which is the caller's
// identity unless the tool declares scope: shared; the canonical arguments
// (defaults applied, keys sorted, numbers in one form); and the values of
// the client headers forwarded to the upstream, which may change its answer.
//
// Not cached:
//   - tools without a cache section;
//   - tools that are neither GET/HEAD nor annotated read-only (refused at
//     load; checked again here so that no other path can cache a write);
//   - calls whose arguments cannot be made canonical.
//
// Read but not looked up: a call sending the bypass _meta to a tool with
// cache.bypass (its answer replaces the entry).
//
// Not answered from: entries stored under an earlier config (before a
// reload; the mapping and the secrets to redact may have changed), which
// responseCache.peek passes over.
//
// Answers are then stored only when [cacheDecision.store] agrees: a 2xx
// response shaped without error, without Cache-Control no-store or
// no-cache, without Vary: *, and for shared entries without
// Cache-Control private or Set-Cookie. A max-age shorter than the TTL
// shortens it.
func cachePolicy(e *toolEntry, r *mapping.Request, caller string, clientHeader http.Header, meta map[string]any) cacheDecision {
	c := e.policy.Cache
	if c == nil {
		return cacheDecision{}
	}
	if m := e.tool.Method(); m != http.MethodGet && m != http.MethodHead && !e.tool.Descriptor().Hints.ReadOnly {
		return cacheDecision{}
	}
	args, err := r.CanonicalArgs()
	if err != nil {
		return cacheDecision{}
	}
	// The hashed material is built in one buffer (on the stack when it
	// fits): each field as its length, ':' and its bytes.
	var stack [512]byte
	m := stack[:0]
	field := func(parts ...string) {
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		m = strconv.AppendInt(m, int64(n), 10)
		m = append(m, ':')
		for _, p := range parts {
			m = append(m, p...)
		}
	}
	field(e.tool.Name())
	if c.Shared {
		field("shared")
	} else {
		field("user:", caller)
	}
	m = strconv.AppendInt(m, int64(len(args)), 10)
	m = append(m, ':')
	m = append(m, args...)
	for _, k := range e.upstream.cfg.ForwardHeaders {
		field(k)
		field(strings.Join(clientHeader[k], "\x00"))
	}
	sum := sha256.Sum256(m)
	d := cacheDecision{key: string(sum[:]), lookup: true, ttl: c.TTL, shared: c.Shared}
	if c.AllowBypass && meta[bypassMetaKey] == bypassMetaValue {
		d.lookup = false
	}
	return d
}

// store reports whether an answer may be stored under d, and for how long.
// It is the second half of cachePolicy.
func (d cacheDecision) store(status int, header http.Header, shaped mapping.Result) (time.Duration, bool) {
	if d.key == "" || shaped.IsError || status < 200 || status > 299 {
		return 0, false
	}
	ttl := d.ttl
	for _, v := range header.Values("Vary") {
		if strings.TrimSpace(v) == "*" {
			return 0, false
		}
	}
	if d.shared && len(header.Values("Set-Cookie")) > 0 {
		return 0, false
	}
	for _, v := range header.Values("Cache-Control") {
		for _, dir := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0, false
			case "private":
				if d.shared {
					return 0, false
				}
			case "max-age":
				if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n >= 0 {
					if n == 0 {
						return 0, false
					}
					ttl = min(ttl, time.Duration(n)*time.Second)
				}
			}
		}
	}
	return ttl, true
}

// cachedResult is one stored answer, immutable once stored: the tools/call
// result as encoded, and when it expires. It is kept encoded only: the fast
// path writes it as it is, the SDK path decodes it (decodeResult).
type cachedResult struct {
	encoded *encodedResult
	expires time.Time
	size    int64
}

// encodedResult is a tools/call result as JSON (CallToolResult.MarshalJSON
// of what Server.result makes of a shaped answer), and the config it was
// made with: the tool's mapping and the redaction of secrets depend on it,
// so an entry made before a reload is not used after it.
type encodedResult struct {
	cfg  *configs.Config
	json []byte
}

// responseCache is an LRU bounded by entries and bytes. Expiry is kept in
// the entry and checked on read against the injected clock (no background
// goroutine); an expired entry is dropped when it is read or when it
// reaches the LRU end.
type responseCache struct {
	now      func() time.Time
	maxBytes int64

	mu    sync.Mutex
	lru   *simplelru.LRU[string, *cachedResult]
	bytes int64

	// Counters for metrics.
	hits, misses, evictions atomic.Uint64

	group   singleflight.Group
	flights flights
}

func newResponseCache(c configs.CacheSpec, now func() time.Time) *responseCache {
	rc := &responseCache{now: now, maxBytes: c.MaxBytes, flights: flights{m: map[string]*flight{}}}
	// NewLRU fails only for a size below 1, which configs refuses.
	rc.lru, _ = simplelru.NewLRU(max(c.MaxEntries, 1), func(_ string, v *cachedResult) {
		rc.bytes -= v.size
	})
	return rc
}

func resultSize(enc *encodedResult) int64 {
	return int64(entryOverhead + len(enc.json))
}

// get looks key up, for a call under cfg, and counts a hit or a miss.
func (c *responseCache) get(key string, cfg *configs.Config) (*cachedResult, bool) {
	r, ok := c.peek(key, cfg)
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return r, ok
}

// peek looks key up without counting (a second look by the same call). An
// entry made under another config than cfg (before a reload) is not found.
func (c *responseCache) peek(key string, cfg *configs.Config) (*cachedResult, bool) {
	now := c.now() // outside the lock: the clock may take time
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.lru.Get(key)
	if !ok {
		return nil, false
	}
	if !now.Before(v.expires) {
		c.lru.Remove(key)
		return nil, false
	}
	if v.encoded.cfg != cfg {
		return nil, false // the call will store a new answer
	}
	return v, true
}

// put stores enc for ttl.
func (c *responseCache) put(key string, enc *encodedResult, ttl time.Duration) {
	size := resultSize(enc)
	if size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(key)
	if c.lru.Add(key, &cachedResult{encoded: enc, expires: c.now().Add(ttl), size: size}) {
		c.evictions.Add(1) // over max_entries
	}
	c.bytes += size
	for c.bytes > c.maxBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
		c.evictions.Add(1)
	}
}

// stats returns the number of entries and their bytes.
func (c *responseCache) stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}

// fetched is the outcome of one upstream call, shared by the callers that
// waited for it.
type fetched struct {
	shaped  mapping.Result
	encoded *encodedResult // set when the answer was stored, or read from the cache (shaped then empty)
	status  int
	header  http.Header // the upstream's; nil once stored
	outcome string
}

// do runs fetch once for concurrent calls with the same key. fetch gets a
// context that lives while at least one of those calls is waiting: a caller
// that goes away leaves the others their answer, and when all have gone the
// upstream request is cancelled. shared reports whether this caller got an
// answer fetched for another.
func (c *responseCache) do(ctx context.Context, key string, fetch func(context.Context) fetched) (res fetched, shared bool, err error) {
	f := c.flights.join(ctx, key)
	defer c.flights.leave(key, f)
	// The flight's generation is part of the singleflight key: a call that
	// comes after every earlier caller left (and the upstream request was
	// cancelled) starts a new request instead of joining the cancelled one.
	ch := c.group.DoChan(key+"#"+strconv.FormatUint(f.gen, 10), func() (any, error) {
		return fetch(f.ctx), nil
	})
	select {
	case r := <-ch:
		return r.Val.(fetched), r.Shared, nil
	case <-ctx.Done():
		return fetched{}, false, ctx.Err()
	}
}

// flights counts the callers waiting for each key, so that the upstream
// request is cancelled only when none waits any more.
type flights struct {
	mu  sync.Mutex
	m   map[string]*flight
	gen uint64
}

type flight struct {
	ctx     context.Context
	cancel  context.CancelFunc
	waiting int
	gen     uint64
}

func (fs *flights) join(ctx context.Context, key string) *flight {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.m[key]
	if !ok {
		// The values (the caller's identity among them) are the first
		// caller's; the key includes the identity unless the tool's
		// results are the same for everyone.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		fs.gen++
		f = &flight{ctx: fctx, cancel: cancel, gen: fs.gen}
		fs.m[key] = f
	}
	f.waiting++
	return f
}

func (fs *flights) leave(key string, f *flight) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f.waiting--
	if f.waiting == 0 {
		f.cancel()
		if fs.m[key] == f {
			delete(fs.m, key)
		}
	}
}

// CacheStats returns the number of cached results and the bytes they are
// accounted for (the encoded result plus a fixed overhead per entry); zero
// when no tool is cached.
func (s *Server) CacheStats() (entries int, bytes int64) {
	if s.cache == nil {
		return 0, 0
	}
	return s.cache.stats()
}
