package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"

	"github.com/api2mcp/api2mcp/internal/redistest"
)

// A fixture opens fresh, empty stores of one kind for the conformance
// suite.
type fixture struct {
	name string
	// open returns a store closed when the test ends, and a function that
	// lets time pass for it: the file store's clock moves at once; for
	// Redis it does nothing, and real time passes instead (realTime).
	open     func(t testing.TB) (Store, func(time.Duration))
	realTime bool
	// ttl is short enough for the expiry tests to wait out.
	ttl time.Duration
}

// fixtures returns the file store's fixture, and Redis's when a
// redis-server can be started (see startRedis).
func fixtures(t testing.TB) []fixture {
	fx := []fixture{{
		name: "file",
		open: func(t testing.TB) (Store, func(time.Duration)) {
			clock := newClock()
			s, err := OpenFile(filepath.Join(t.TempDir(), "state.db"), &Options{Now: clock.now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, clock.advance
		},
		ttl: time.Hour,
	}}
	if addr, ok := redisAddr(t); ok {
		var n atomic.Int64
		fx = append(fx, fixture{
			name: "redis",
			open: func(t testing.TB) (Store, func(time.Duration)) {
				// One server for the whole suite, a fresh prefix per store.
				prefix := fmt.Sprintf("test%d:", n.Add(1))
				s, err := OpenRedis(context.Background(), redisURL(addr), prefix, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s, func(time.Duration) {}
			},
			realTime: true,
			// Long enough that a read right after a write sees the entry,
			// short enough to wait out.
			ttl: 100 * time.Millisecond,
		})
	}
	return fx
}

// conformance is the behavior every Store must have.
var conformance = []struct {
	name string
	run  func(t *testing.T, fx fixture)
}{
	{name: "RoundTrip", run: testRoundTrip},
	{name: "Limits", run: testLimits},
	{name: "BadTTL", run: testBadTTL},
	{name: "Expiry", run: testExpiry},
	{name: "SwapKeepsExpiry", run: testSwapKeepsExpiry},
	{name: "TakeOnce", run: testTakeOnce},
	{name: "SwapMissing", run: testSwapMissing},
	{name: "SwapChain", run: testSwapChain},
	{name: "KeyPrefixes", run: testKeyPrefixes},
	{name: "CanceledContext", run: testCanceledContext},
	{name: "CloseTwice", run: testCloseTwice},
}

func TestConformance(t *testing.T) {
	fxs := fixtures(t)
	for _, fx := range fxs {
		t.Run(fx.name, func(t *testing.T) {
			for _, tc := range conformance {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, fx) })
			}
		})
	}
	if len(fxs) == 1 {
		t.Run("redis", func(t *testing.T) { t.Skip("redis-server is not on PATH (.ci/run installs it)") })
	}
}

func testRoundTrip(t *testing.T, fx fixture) {
	ctx := context.Background()
	s, _ := fx.open(t)
	if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	mustPut(t, s, "k", "v1", time.Hour)
	wantValue(t, s, "k", "v1")
	mustPut(t, s, "k", "v2", time.Hour) // overwrites
	wantValue(t, s, "k", "v2")
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, s, "k")
	if err := s.Delete(ctx, "k"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}

	// Values are opaque bytes, the empty value included.
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	for _, v := range [][]byte{binary, {}} {
		if err := s.Put(ctx, "bin", v, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "bin")
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("Get of a %d-byte value = %q, %v; want it back", len(v), got, err)
		}
	}
}

func testLimits(t *testing.T, fx fixture) {
	ctx := context.Background()
	s, _ := fx.open(t)
	big := bytes.Repeat([]byte("x"), MaxValueLen)
	if err := s.Put(ctx, "big", big, time.Hour); err != nil {
		t.Fatalf("Put of MaxValueLen bytes: %v", err)
	}
	if got, err := s.Get(ctx, "big"); err != nil || !bytes.Equal(got, big) {
		t.Errorf("Get of MaxValueLen bytes: %d bytes, %v", len(got), err)
	}
	if err := s.Put(ctx, "k", append(big, 'x'), time.Hour); err == nil {
		t.Error("Put of MaxValueLen+1 bytes: no error")
	}
	if _, err := s.Swap(ctx, "big", append(big, 'x')); err == nil {
		t.Error("Swap to MaxValueLen+1 bytes: no error")
	}
	for _, key := range []string{"", strings.Repeat("k", MaxKeyLen+1)} {
		if err := s.Put(ctx, key, []byte("v"), time.Hour); err == nil {
			t.Errorf("Put of a %d-byte key: no error", len(key))
		}
		if _, err := s.Get(ctx, key); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Get of a %d-byte key: %v, want a key error", len(key), err)
		}
	}
	mustPut(t, s, strings.Repeat("k", MaxKeyLen), "v", time.Hour)
}

func testBadTTL(t *testing.T, fx fixture) {
	s, _ := fx.open(t)
	for _, ttl := range []time.Duration{0, -time.Second} {
		err := s.Put(context.Background(), "k", []byte("v"), ttl)
		if err == nil || !strings.Contains(err.Error(), "ttl") {
			t.Errorf("Put with ttl %s: %v, want a ttl error", ttl, err)
		}
	}
	wantAbsent(t, s, "k")
}

func testExpiry(t *testing.T, fx fixture) {
	ctx := context.Background()
	s, pass := fx.open(t)
	for _, k := range []string{"get", "take", "swap"} {
		mustPut(t, s, k, "v", fx.ttl)
		wantValue(t, s, k, "v")
	}
	pass(fx.ttl)
	// Every key must have expired (they were put one after the other)
	// before Take and Swap meet them.
	eventually(t, fx, "get: expired entries gone", func() bool {
		for _, k := range []string{"get", "take", "swap"} {
			if _, err := s.Get(ctx, k); !errors.Is(err, ErrNotFound) {
				return false
			}
		}
		return true
	})
	if _, err := s.Take(ctx, "take"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Take of an expired key: %v, want ErrNotFound", err)
	}
	if _, err := s.Swap(ctx, "swap", []byte("new")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Swap of an expired key: %v, want ErrNotFound", err)
	}
	wantAbsent(t, s, "swap") // and nothing written
}

func testSwapKeepsExpiry(t *testing.T, fx fixture) {
	ctx := context.Background()
	s, pass := fx.open(t)
	mustPut(t, s, "k", "v1", fx.ttl)
	old, err := s.Swap(ctx, "k", []byte("v2"))
	if err != nil || string(old) != "v1" {
		t.Fatalf("Swap = %q, %v; want v1", old, err)
	}
	if !fx.realTime {
		pass(fx.ttl - 1)
		wantValue(t, s, "k", "v2")
		pass(1)
		wantAbsent(t, s, "k")
		return
	}
	// Without KEEPTTL the key would live forever.
	eventually(t, fx, "swapped entry expires", func() bool {
		_, err := s.Get(ctx, "k")
		return errors.Is(err, ErrNotFound)
	})
}

func testTakeOnce(t *testing.T, fx fixture) {
	const takers = 50
	ctx := context.Background()
	s, _ := fx.open(t)
	for round := range 5 {
		key := "code:" + strconv.Itoa(round)
		mustPut(t, s, key, "grant", time.Hour)
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			winners atomic.Int32
		)
		for range takers {
			wg.Go(func() {
				<-start
				v, err := s.Take(ctx, key)
				switch {
				case err == nil && string(v) == "grant":
					winners.Add(1)
				case errors.Is(err, ErrNotFound):
				default:
					t.Errorf("Take = %q, %v", v, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := winners.Load(); n != 1 {
			t.Errorf("round %d: %d of %d concurrent Takes got the value, want exactly 1", round, n, takers)
		}
		wantAbsent(t, s, key)
	}
}

func testSwapMissing(t *testing.T, fx fixture) {
	s, _ := fx.open(t)
	if old, err := s.Swap(context.Background(), "k", []byte("v")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Swap of a missing key = %q, %v; want ErrNotFound", old, err)
	}
	wantAbsent(t, s, "k")
}

// testSwapChain swaps many values into one key at once: each Swap must see
// the value of the one before it, so the old values seen, plus the value
// left, are the initial value and every swapped-in value, each once; and
// exactly one caller sees the initial value.
func testSwapChain(t *testing.T, fx fixture) {
	const swappers = 50
	ctx := context.Background()
	s, _ := fx.open(t)
	mustPut(t, s, "refresh:x", "unused", time.Hour)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		mu    sync.Mutex
		seen  []string
	)
	for i := range swappers {
		wg.Go(func() {
			<-start
			old, err := s.Swap(ctx, "refresh:x", []byte("used-by-"+strconv.Itoa(i)))
			if err != nil {
				t.Errorf("Swap: %v", err)
				return
			}
			mu.Lock()
			seen = append(seen, string(old))
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	last, err := s.Get(ctx, "refresh:x")
	if err != nil {
		t.Fatal(err)
	}
	got := append(seen, string(last))
	want := []string{"unused"}
	for i := range swappers {
		want = append(want, "used-by-"+strconv.Itoa(i))
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("old values seen and the last value (-want +got):\n%s", diff)
	}
}

func testKeyPrefixes(t *testing.T, fx fixture) {
	ctx := context.Background()
	s, _ := fx.open(t)
	keys := []string{"code:ab", "grant:ab", "ab", "code:abc", "code:a"}
	for _, k := range keys {
		mustPut(t, s, k, "value of "+k, time.Hour)
	}
	for _, k := range keys {
		wantValue(t, s, k, "value of "+k)
	}
	if _, err := s.Take(ctx, "code:ab"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "code:abc"); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, s, "code:ab")
	wantAbsent(t, s, "code:abc")
	for _, k := range []string{"grant:ab", "ab", "code:a"} {
		wantValue(t, s, k, "value of "+k)
	}
}

func testCanceledContext(t *testing.T, fx fixture) {
	s, _ := fx.open(t)
	mustPut(t, s, "k", "v", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context: %v, want context.Canceled", err)
	}
	if err := s.Put(ctx, "k", []byte("w"), time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context: %v, want context.Canceled", err)
	}
	wantValue(t, s, "k", "v")
}

func testCloseTwice(t *testing.T, fx fixture) {
	s, _ := fx.open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Get(context.Background(), "k"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Close: %v, want an error", err)
	}
}

// File store only.

func TestFilePersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	clock := newClock()
	s, err := OpenFile(path, &Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "grant:1", "alice", time.Hour)
	mustPut(t, s, "code:1", "short", time.Minute)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenFile(path, &Options{Now: clock.now})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	wantValue(t, s, "grant:1", "alice")
	wantValue(t, s, "code:1", "short")
	clock.advance(time.Minute) // expiries survive too
	wantAbsent(t, s, "code:1")
	wantValue(t, s, "grant:1", "alice")
	if _, err := s.Take(ctx, "grant:1"); err != nil {
		t.Fatal(err)
	}
}

func TestFileCreatesPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "as")
	s, err := OpenFile(filepath.Join(dir, "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, "state.db"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %s, want %s", path, fi.Mode(), want)
		}
	}
}

func TestFileInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 200 * time.Millisecond
	start := time.Now()
	_, err = OpenFile(path, &Options{LockTimeout: timeout})
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second OpenFile: %v, want \"in use by another process\"", err)
	}
	if took := time.Since(start); took > timeout+10*time.Second { // it must not hang; load can slow it
		t.Errorf("second OpenFile took %s with a lock timeout of %s", took, timeout)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenFile(path, &Options{LockTimeout: timeout})
	if err != nil {
		t.Fatalf("OpenFile after the holder closed: %v", err)
	}
	s.Close()
}

func TestFileNotAStore(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{name: "text", content: bytes.Repeat([]byte("not a database\n"), 1000)},
		{name: "short", content: []byte("hello")},
		{name: "zeros", content: make([]byte, 16<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenFile(path, &Options{LockTimeout: 200 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("OpenFile of a non-store file: no error")
			}
			if !strings.Contains(err.Error(), "not a store file") || !strings.Contains(err.Error(), path) {
				t.Errorf("OpenFile of a non-store file: %v, want the path and \"not a store file\"", err)
			}
		})
	}
}

func TestFileSweep(t *testing.T) {
	clock := newClock()
	f, err := OpenFile(filepath.Join(t.TempDir(), "state.db"), &Options{Now: clock.now, SweepEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 7 {
		mustPut(t, f, "short:"+strconv.Itoa(i), "v", time.Minute)
	}
	mustPut(t, f, "long:1", "v", time.Hour)
	mustPut(t, f, "long:2", "v", time.Hour)
	clock.advance(time.Minute)

	// Bounded work: 3 entries a sweep, resuming where the last stopped.
	f.sweepMu.Lock()
	f.sweepLimit = 3
	f.sweepMu.Unlock()
	total := 0
	for range 3 {
		n, err := f.sweep()
		if err != nil {
			t.Fatal(err)
		}
		if n > 3 {
			t.Errorf("one sweep deleted %d entries, limit 3", n)
		}
		total += n
	}
	if total != 7 || rawCount(t, f) != 2 {
		t.Errorf("3 sweeps deleted %d, left %d entries; want 7 and 2", total, rawCount(t, f))
	}
	wantValue(t, f, "long:1", "v")
}

func TestFileSweepsInBackground(t *testing.T) {
	clock := newClock()
	f, err := OpenFile(filepath.Join(t.TempDir(), "state.db"), &Options{Now: clock.now, SweepEvery: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mustPut(t, f, "k", "v", time.Minute)
	clock.advance(time.Minute)
	eventually(t, fixture{realTime: true}, "background sweep", func() bool { return rawCount(t, f) == 0 })
}

func TestFileDeletesExpiredOnGet(t *testing.T) {
	clock := newClock()
	f, err := OpenFile(filepath.Join(t.TempDir(), "state.db"), &Options{Now: clock.now, SweepEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mustPut(t, f, "k", "v", time.Minute)
	clock.advance(time.Minute)
	wantAbsent(t, f, "k")
	if n := rawCount(t, f); n != 0 {
		t.Errorf("%d entries left after Get of an expired one, want 0", n)
	}
}

// rawCount counts the entries in the file, expired ones included.
func rawCount(t *testing.T, f *File) int {
	t.Helper()
	n := 0
	err := f.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Redis only.

func TestRedisPrefix(t *testing.T) {
	addr := startRedis(t)
	ctx := context.Background()
	a, err := OpenRedis(ctx, redisURL(addr), "a:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenRedis(ctx, redisURL(addr), "b:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mustPut(t, a, "k", "in a", time.Hour)
	wantAbsent(t, b, "k")
	mustPut(t, b, "k", "in b", time.Hour)
	wantValue(t, a, "k", "in a")
	if got, err := a.client.Get(ctx, "a:k").Result(); err != nil || got != "in a" {
		t.Errorf("raw key a:k = %q, %v; want \"in a\"", got, err)
	}
	if ttl, err := a.client.PTTL(ctx, "a:k").Result(); err != nil || ttl <= 0 || ttl > time.Hour {
		t.Errorf("PTTL of a:k = %s, %v; want (0, 1h]", ttl, err)
	}
}

func TestRedisOpenErrors(t *testing.T) {
	const password = "hunter2-store-password"
	addr := startRedis(t)
	for _, tc := range []struct {
		name string
		url  string
		want string
	}{
		{name: "unparsable", url: "redis://:" + password + "@127.0.0.1:notaport/0", want: "not a usable Redis URL"},
		{name: "wrong scheme", url: "http://:" + password + "@" + addr + "/0", want: "not a usable Redis URL"},
		{name: "unreachable", url: "redis://:" + password + "@" + closedAddr(t) + "/0", want: "connection refused"},
		{name: "wrong password", url: "redis://:" + password + "@" + addr + "/0", want: "WRONGPASS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := OpenRedis(context.Background(), tc.url, "p:", nil)
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error holds the password: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if took := time.Since(start); took > redisOpenTimeout+10*time.Second { // it must not hang
				t.Errorf("took %s", took)
			}
		})
	}
}

// Helpers.

func mustPut(t *testing.T, s Store, key, value string, ttl time.Duration) {
	t.Helper()
	if err := s.Put(context.Background(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Put %q: %v", key, err)
	}
}

func wantValue(t *testing.T, s Store, key, want string) {
	t.Helper()
	got, err := s.Get(context.Background(), key)
	if err != nil || string(got) != want {
		t.Errorf("Get %q = %q, %v; want %q", key, got, err, want)
	}
}

func wantAbsent(t *testing.T, s Store, key string) {
	t.Helper()
	if got, err := s.Get(context.Background(), key); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get %q = %q, %v; want ErrNotFound", key, got, err)
	}
}

// eventually checks cond: once for a store with an injected clock (where
// expiry must show at once), or until it holds, for up to 2s, where real
// time passes.
func eventually(t *testing.T, fx fixture, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if !fx.realTime || time.Now().After(deadline) {
			t.Errorf("%s: condition does not hold", what)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// clock is a settable clock, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

const redisTestPassword = redistest.Password

func redisURL(addr string) string { return "redis://:" + redisTestPassword + "@" + addr + "/0" }

// redisAddr starts a redis-server for the test (see startRedis), or says
// there is none.
func redisAddr(t testing.TB) (string, bool) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("REDIS_TESTS_REQUIRED") != "" {
			t.Fatal("redis-server is not on PATH and REDIS_TESTS_REQUIRED is set")
		}
		return "", false
	}
	return startRedis(t), true
}

// startRedis runs a redis-server for the test (see redistest.Start).
func startRedis(t testing.TB) string { return redistest.Start(t) }

// closedAddr is a 127.0.0.1 address where nothing listens.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestFileLongTTL(t *testing.T) {
	s, err := OpenFile(filepath.Join(t.TempDir(), "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustPut(t, s, "k", "v", time.Duration(math.MaxInt64)) // past 2262
	wantValue(t, s, "k", "v")
}
