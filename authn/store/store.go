package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrNotFound is returned when a key is absent or expired.
var ErrNotFound = errors.New("store: not found")

// Limits on keys and values, the same for every implementation.
const (
	MaxKeyLen   = 1024     // bytes
	MaxValueLen = 64 << 10 // bytes
)

// Store is a key-value store with an expiry per key, safe for concurrent use
// (and, for Redis, across processes). An entry put with a TTL d at time t is
// visible while the time is before t+d, and never after.
type Store interface {
	// Get returns the value of key, or ErrNotFound if it is absent or
	// expired.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put sets key to value, expiring after ttl, which must be positive.
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Take returns the value of key and deletes it, atomically: of many
	// concurrent Takes of one key exactly one gets the value, the others
	// get ErrNotFound. It is how a single-use code is redeemed.
	Take(ctx context.Context, key string) ([]byte, error)
	// Swap replaces the value of an existing, unexpired key, keeping its
	// expiry, and returns the previous value, atomically; if the key is
	// absent or expired it writes nothing and returns ErrNotFound. Of many
	// concurrent Swaps on one key each sees the value the one before it
	// wrote, so swapping "unused" for "used" tells exactly one caller
	// "unused".
	Swap(ctx context.Context, key string, value []byte) ([]byte, error)
	// Delete removes key; an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Close releases the store. It is safe to call more than once.
	Close() error
}

// Options tunes a store; nil means all defaults.
type Options struct {
	// Now is the file store's clock, for tests; nil means time.Now. Redis
	// keeps time itself.
	Now func() time.Time
	// SweepEvery is how often the file store deletes expired entries in
	// the background (they are invisible at once, whatever this is); zero
	// means DefaultSweepEvery.
	SweepEvery time.Duration
	// LockTimeout is how long OpenFile waits for a file another process
	// holds before it gives up; zero means DefaultLockTimeout.
	LockTimeout time.Duration
	// Logger receives background failures (a sweep that could not
	// write); nil discards them.
	Logger *slog.Logger
}

// Defaults for Options.
const (
	DefaultSweepEvery  = time.Minute
	DefaultLockTimeout = 2 * time.Second
)

// withDefaults returns a copy of o with every zero field defaulted.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = DefaultSweepEvery
	}
	if c.LockTimeout <= 0 {
		c.LockTimeout = DefaultLockTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// checkKey and checkValue hold every implementation to the same limits.
func checkKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("store: key of %d bytes, want 1 to %d", len(key), MaxKeyLen)
	}
	return nil
}

func checkValue(value []byte) error {
	if len(value) > MaxValueLen {
		return fmt.Errorf("store: value of %d bytes, want at most %d", len(value), MaxValueLen)
	}
	return nil
}

func checkPut(key string, value []byte, ttl time.Duration) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("store: ttl %s, want a positive duration", ttl)
	}
	return nil
}
