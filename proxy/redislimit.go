package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/api2mcp/api2mcp/configs"
)

// Redis timeouts: a rate-limit check is on the path of every call, so a slow
// or absent Redis must cost little. After a failure Redis is not asked again
// for redisPause; the replica's own buckets apply meanwhile.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = 500 * time.Millisecond
	redisPause       = 5 * time.Second
	redisKeyPrefix   = "api2mcp:ratelimit:"
)

// gcra is the generic cell rate algorithm, run atomically in Redis with the
// server's clock (so replicas' clocks need not agree). KEYS[1] holds the
// theoretical arrival time in milliseconds; ARGV are the emission interval
// (ms per call) and the burst. It returns 0 when the call is allowed, else
// the milliseconds until it would be.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return math.ceil(allow_at - now)
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return 0
`)

// redisBuckets keeps token buckets in Redis, shared by every replica.
type redisBuckets struct {
	client    *redis.Client
	log       *slog.Logger
	pausedTil atomic.Int64 // unix nanoseconds; Redis is skipped until then
	now       func() time.Time
}

// newRedisBuckets prepares a client; it does not connect until the first
// check.
func newRedisBuckets(rawURL string, log *slog.Logger, now func() time.Time) (*redisBuckets, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		// The URL may hold a password: do not quote it or the parser.
		return nil, errors.New("redis.url: not a usable Redis URL")
	}
	opts.DialTimeout = redisDialTimeout
	opts.ReadTimeout = redisIOTimeout
	opts.WriteTimeout = redisIOTimeout
	// No retry (go-redis reads 0 as its default of 3): a script retried
	// after a lost reply would take a second token for one call.
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	opts.ContextTimeoutEnabled = true
	// go-redis logs dial failures to stderr through a process-wide logger;
	// ours says the same once per pause, in our log format.
	quietRedis.Do(func() { redis.SetLogger(discardRedisLog{}) })
	return &redisBuckets{client: redis.NewClient(opts), log: log, now: now}, nil
}

// allow takes a token from the shared bucket name/key. ok is meaningful only
// when err is nil.
func (r *redisBuckets) allow(ctx context.Context, name, key string, l configs.Limit) (wait time.Duration, ok bool, err error) {
	if r.now().UnixNano() < r.pausedTil.Load() {
		return 0, false, errRedisPaused
	}
	sum := sha256.Sum256([]byte(key))
	k := redisKeyPrefix + name + ":" + hex.EncodeToString(sum[:16])
	interval := float64(l.Per.Milliseconds()) / float64(l.Requests)
	if interval <= 0 {
		interval = float64(l.Per.Nanoseconds()) / 1e6 / float64(l.Requests)
	}
	ctx, cancel := context.WithTimeout(ctx, redisIOTimeout)
	defer cancel()
	ms, err := gcra.Run(ctx, r.client, []string{k}, strconv.FormatFloat(interval, 'f', -1, 64), l.Burst).Int64()
	if err != nil {
		if ctx.Err() == nil || errors.Is(err, context.DeadlineExceeded) {
			r.pausedTil.Store(r.now().Add(redisPause).UnixNano())
			// The error may name the address, never the password.
			r.log.Warn("redis_unavailable", slog.String("error", redactRedisError(err)), slog.Duration("pause", redisPause))
		}
		return 0, false, err
	}
	if ms > 0 {
		return time.Duration(ms) * time.Millisecond, false, nil
	}
	return 0, true, nil
}

var quietRedis sync.Once

type discardRedisLog struct{}

func (discardRedisLog) Printf(context.Context, string, ...any) {}

var errRedisPaused = errors.New("redis paused after a failure")

// redactRedisError keeps the error's class only: go-redis errors can echo
// server replies, which might include what was sent.
func redactRedisError(err error) string {
	var ne interface{ Timeout() bool }
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, redis.ErrClosed):
		return "client closed"
	}
	if _, ok := err.(redis.Error); ok {
		return "redis error reply"
	}
	return "connection failed"
}

func (r *redisBuckets) close() { _ = r.client.Close() }
