package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis timeouts. The store is on the path of logins and token requests,
// not of every call, so it may wait a little longer than the rate limits do.
const (
	redisDialTimeout = 2 * time.Second
	redisIOTimeout   = 2 * time.Second
	redisOpenTimeout = 5 * time.Second // the ping at open, dial included
)

// Redis is a [Store] in Redis (6.2 or later), shared by every process that
// opens it with the same prefix. Expiry is Redis's own (PX); Take is GETDEL
// and Swap is SET XX KEEPTTL GET, each one atomic command.
type Redis struct {
	client *redis.Client
	prefix string

	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*Redis)(nil)

// OpenRedis connects to the Redis at url (redis://[user:password@]host:port/db,
// or rediss:// for TLS) and pings it, so that a wrong address or password
// is an error at startup. Every key is stored under prefix, such as
// "api2mcp:as:". Errors may name the address, never the password.
//
// opts is accepted for symmetry with [OpenFile]; none of its fields applies
// to Redis yet.
func OpenRedis(ctx context.Context, url, prefix string, opts *Options) (*Redis, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		// The URL may hold a password: do not quote it or the parser.
		return nil, errors.New("store: redis url: not a usable Redis URL")
	}
	ro.DialTimeout = redisDialTimeout
	ro.ReadTimeout = redisIOTimeout
	ro.WriteTimeout = redisIOTimeout
	ro.ContextTimeoutEnabled = true
	// Take and Swap are not idempotent: a retry after a reply was lost
	// would report a code or refresh token as already used. -1, not 0,
	// means no retries.
	ro.MaxRetries = -1
	ro.DialerRetries = 1
	// go-redis logs dial failures to stderr through a process-wide logger;
	// our errors say the same.
	quietRedis.Do(func() { redis.SetLogger(discardRedisLog{}) })
	client := redis.NewClient(ro)
	pctx, cancel := context.WithTimeout(ctx, redisOpenTimeout)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("store: redis at %s: %s", ro.Addr, describeRedisError(err, ro.Password))
	}
	return &Redis{client: client, prefix: prefix}, nil
}

// Get implements [Store.Get].
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	v, err := r.client.Get(ctx, r.prefix+key).Bytes()
	return result(v, err, "get")
}

// Put implements [Store.Put].
func (r *Redis) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkPut(key, value, ttl); err != nil {
		return err
	}
	// Redis counts in milliseconds: round up, so a positive TTL stays
	// positive.
	ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	if err := r.client.Set(ctx, r.prefix+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("store: redis set: %w", err)
	}
	return nil
}

// Take implements [Store.Take] with GETDEL.
func (r *Redis) Take(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	v, err := r.client.GetDel(ctx, r.prefix+key).Bytes()
	return result(v, err, "getdel")
}

// Swap implements [Store.Swap] with SET key value XX KEEPTTL GET: XX writes
// only over an existing (so unexpired) key, KEEPTTL keeps its expiry, GET
// returns what was there.
func (r *Redis) Swap(ctx context.Context, key string, value []byte) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := checkValue(value); err != nil {
		return nil, err
	}
	old, err := r.client.SetArgs(ctx, r.prefix+key, value, redis.SetArgs{Mode: "XX", KeepTTL: true, Get: true}).Result()
	return result([]byte(old), err, "set")
}

// Delete implements [Store.Delete].
func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := r.client.Del(ctx, r.prefix+key).Err(); err != nil {
		return fmt.Errorf("store: redis del: %w", err)
	}
	return nil
}

// Close closes the connections.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		if err := r.client.Close(); err != nil {
			r.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return r.closeErr
}

// result maps a nil reply to ErrNotFound and names the command in other
// errors.
func result(v []byte, err error, command string) ([]byte, error) {
	switch {
	case errors.Is(err, redis.Nil):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("store: redis %s: %w", command, err)
	}
	return v, nil
}

// describeRedisError says why the ping at open failed, in words that
// cannot hold the password: the kind of an error reply (WRONGPASS, NOAUTH…)
// rather than its text, which can echo what was sent.
func describeRedisError(err error, password string) string {
	var (
		reply redis.Error
		ne    net.Error
	)
	var msg string
	switch {
	case errors.As(err, &reply):
		kind, _, _ := strings.Cut(reply.Error(), " ")
		msg = "the server refused: " + kind
		if kind == "WRONGPASS" || kind == "NOAUTH" {
			msg += " (check the user and password)"
		}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		msg = "timed out"
	case errors.Is(err, context.Canceled):
		msg = "canceled"
	default:
		msg = err.Error() // a dial error: names the address
	}
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "xxxxx")
	}
	return msg
}

var quietRedis sync.Once

type discardRedisLog struct{}

func (discardRedisLog) Printf(context.Context, string, ...any) {}
