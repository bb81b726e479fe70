// Package store keeps the built-in authorization server's state.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound: the key is absent or expired.
var ErrNotFound = errors.New("store: not found")

// Store is a key-value store with per-key expiry.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Take(ctx context.Context, key string) ([]byte, error)
	Swap(ctx context.Context, key string, value []byte) ([]byte, error)
	Delete(ctx context.Context, key string) error
	Close() error
}
