package proxy

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadAtMost reads what io.ReadAll(io.LimitReader(r, limit+1)) reads,
// whatever the announced size says.
func TestReadAtMost(t *testing.T) {
	for _, n := range []int{0, 1, 10, 511, 512, 513, 4096, maxPrealloc + 10} {
		body := strings.Repeat("x", n)
		for _, limit := range []int64{0, 5, 512, int64(n), int64(n) + 1, 1 << 20} {
			for _, size := range []int64{-1, 0, int64(n), int64(n) / 2, int64(n) * 2, 1 << 30} {
				want, _ := io.ReadAll(io.LimitReader(strings.NewReader(body), limit+1))
				got, err := readAtMost(iotest.OneByteReader(strings.NewReader(body)), size, limit)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("n %d, limit %d, size %d: %d bytes (%v), want %d", n, limit, size, len(got), err, len(want))
				}
				got, _ = readAtMost(strings.NewReader(body), size, limit)
				if !bytes.Equal(got, want) {
					t.Fatalf("n %d, limit %d, size %d (whole reads): %d bytes, want %d", n, limit, size, len(got), len(want))
				}
			}
		}
	}
	boom := errors.New("boom")
	if _, err := readAtMost(iotest.ErrReader(boom), 10, 100); !errors.Is(err, boom) {
		t.Errorf("read error: %v, want boom", err)
	}
}
