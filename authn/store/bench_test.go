package store

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// The values are the size of a grant record; keys look like the callers'.

func BenchmarkGet(b *testing.B) {
	for _, fx := range fixtures(b) {
		b.Run(fx.name, func(b *testing.B) {
			ctx := context.Background()
			s, _ := fx.open(b)
			value := make([]byte, 512)
			for i := range 1000 {
				if err := s.Put(ctx, "grant:"+strconv.Itoa(i), value, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.Get(ctx, "grant:"+strconv.Itoa(i%1000)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkPut(b *testing.B) {
	for _, fx := range fixtures(b) {
		b.Run(fx.name, func(b *testing.B) {
			ctx := context.Background()
			s, _ := fx.open(b)
			value := make([]byte, 512)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := s.Put(ctx, "grant:"+strconv.Itoa(i%1000), value, time.Hour); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
