package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// bucket holds every entry; its name carries the entry format's version.
// An entry is the expiry (8 bytes, big-endian Unix nanoseconds) followed by
// the value.
var bucket = []byte("entries/v1")

const expiryLen = 8

// sweepLimit bounds one sweep's work: it examines at most this many
// entries, resuming where the previous sweep stopped.
const sweepLimit = 10_000

// File is a [Store] in one bbolt file, held by one process at a time.
// Expired entries are invisible at once; they are deleted when met (Get,
// Take, Swap) and by a sweep on open and then every Options.SweepEvery.
type File struct {
	db   *bbolt.DB
	now  func() time.Time
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}

	sweepMu    sync.Mutex
	sweepFrom  []byte // key the next sweep starts at; nil = the first
	sweepLimit int

	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*File)(nil)

// OpenFile opens the store file at path, creating it (mode 0600, and its
// missing parent directories 0700) if needed. If another process holds the
// file, it fails after Options.LockTimeout; a file that is not a store, or
// a corrupt one, is an error too.
func OpenFile(path string, opts *Options) (*File, error) {
	o := opts.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: o.LockTimeout})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("store: open %s: the file is in use by another process (its lock was not released within %s)", path, o.LockTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("store: open %s: not a store file, or a corrupt one: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	f := &File{
		db:         db,
		now:        o.Now,
		log:        o.Logger,
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		sweepLimit: sweepLimit,
	}
	go f.sweepLoop(o.SweepEvery)
	return f, nil
}

// Get implements [Store.Get].
func (f *File) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := f.now().UnixNano()
	var (
		val            []byte
		found, expired bool
	)
	err := f.db.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucket).Get([]byte(key))
		if raw == nil {
			return nil
		}
		v, ok, err := decode(raw, now)
		if err != nil {
			return err
		}
		if ok {
			val, found = bytes.Clone(v), true
		} else {
			expired = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	if expired {
		// Delete it lazily; if that fails, the sweep will.
		_ = f.db.Update(func(tx *bbolt.Tx) error {
			return deleteIfExpired(tx.Bucket(bucket), []byte(key), now)
		})
	}
	if !found {
		return nil, ErrNotFound
	}
	return val, nil
}

// Put implements [Store.Put].
func (f *File) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkPut(key, value, ttl); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := f.now().UnixNano()
	expiry := now + int64(ttl)
	if expiry < now { // past 2262: never
		expiry = math.MaxInt64
	}
	entry := encode(expiry, value)
	err := f.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(key), entry)
	})
	if err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	return nil
}

// Take implements [Store.Take]. bbolt runs one write transaction at a time,
// so the read and the delete are one step.
func (f *File) Take(ctx context.Context, key string) ([]byte, error) {
	return f.replace(ctx, "take", key, nil)
}

// Swap implements [Store.Swap], in one write transaction like Take.
func (f *File) Swap(ctx context.Context, key string, value []byte) ([]byte, error) {
	if err := checkValue(value); err != nil {
		return nil, err
	}
	if value == nil {
		value = []byte{} // nil would mean delete to replace
	}
	return f.replace(ctx, "swap", key, value)
}

// replace reads the live value of key and, in the same write transaction,
// puts value in its place with the same expiry, or deletes it when value is
// nil. An expired entry met on the way is deleted; ErrNotFound then.
func (f *File) replace(ctx context.Context, op, key string, value []byte) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := f.now().UnixNano()
	var (
		old   []byte
		found bool
	)
	err := f.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		raw := b.Get([]byte(key))
		if raw == nil {
			return nil
		}
		v, ok, err := decode(raw, now)
		if err != nil {
			return err
		}
		if !ok || value == nil {
			if ok {
				old, found = bytes.Clone(v), true
			}
			return b.Delete([]byte(key)) // expired or taken, it goes
		}
		old, found = bytes.Clone(v), true
		expiry := int64(binary.BigEndian.Uint64(raw))
		return b.Put([]byte(key), encode(expiry, value))
	})
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	if !found {
		return nil, ErrNotFound
	}
	return old, nil
}

// Delete implements [Store.Delete].
func (f *File) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := f.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	return nil
}

// Close stops the sweep and closes the file, releasing it to other
// processes.
func (f *File) Close() error {
	f.closeOnce.Do(func() {
		close(f.stop)
		<-f.done
		if err := f.db.Close(); err != nil {
			f.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return f.closeErr
}

func (f *File) sweepLoop(every time.Duration) {
	defer close(f.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := f.sweep(); err != nil {
			f.log.Warn("store_sweep_failed", slog.String("error", err.Error()))
		}
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
	}
}

// sweep deletes the expired entries among the next f.sweepLimit, and
// returns how many it deleted. It reads in a read transaction, so writers
// wait only for the deletions, and checks each entry again before deleting
// it: a Put may have renewed it meanwhile.
func (f *File) sweep() (int, error) {
	f.sweepMu.Lock()
	defer f.sweepMu.Unlock()
	now := f.now().UnixNano()
	var expired [][]byte
	err := f.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		k, v := c.First()
		if f.sweepFrom != nil {
			k, v = c.Seek(f.sweepFrom)
		}
		for n := 0; k != nil && n < f.sweepLimit; n++ {
			if _, ok, _ := decode(v, now); !ok {
				expired = append(expired, bytes.Clone(k))
			}
			k, v = c.Next()
		}
		f.sweepFrom = bytes.Clone(k) // nil at the end: start over
		return nil
	})
	if err != nil || len(expired) == 0 {
		return 0, err
	}
	deleted := 0
	err = f.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		deleted = 0
		for _, k := range expired {
			raw := b.Get(k)
			if raw == nil {
				continue
			}
			if _, ok, err := decode(raw, now); ok && err == nil {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			deleted++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: sweep: %w", err)
	}
	return deleted, nil
}

// deleteIfExpired deletes key if its entry has expired at now (or is
// unreadable).
func deleteIfExpired(b *bbolt.Bucket, key []byte, now int64) error {
	raw := b.Get(key)
	if raw == nil {
		return nil
	}
	if _, ok, err := decode(raw, now); ok && err == nil {
		return nil
	}
	return b.Delete(key)
}

func encode(expiry int64, value []byte) []byte {
	entry := make([]byte, expiryLen+len(value))
	binary.BigEndian.PutUint64(entry, uint64(expiry))
	copy(entry[expiryLen:], value)
	return entry
}

// decode returns an entry's value, and whether it is still alive at now.
// The value aliases raw.
func decode(raw []byte, now int64) (value []byte, alive bool, err error) {
	if len(raw) < expiryLen {
		return nil, false, errors.New("corrupt entry")
	}
	expiry := int64(binary.BigEndian.Uint64(raw))
	return raw[expiryLen:], now < expiry, nil
}
