package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/api2mcp/api2mcp/authn/store"
)

// An authorization code is redeemed once: the second Take finds nothing.
func ExampleFile_Take() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	s, err := store.OpenFile(filepath.Join(dir, "state.db"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	ctx := context.Background()
	_ = s.Put(ctx, "code:3f2a", []byte(`{"client":"c1"}`), time.Minute)
	v, err := s.Take(ctx, "code:3f2a")
	fmt.Printf("%s %v\n", v, err)
	_, err = s.Take(ctx, "code:3f2a")
	fmt.Println(errors.Is(err, store.ErrNotFound))
	// Output:
	// {"client":"c1"} <nil>
	// true
}

// Refresh-token reuse: the first Swap sees "unused", a replay sees "used".
func ExampleFile_Swap() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	s, err := store.OpenFile(filepath.Join(dir, "state.db"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	ctx := context.Background()
	_ = s.Put(ctx, "refresh:9c01", []byte("unused"), 30*24*time.Hour)
	for range 2 {
		old, _ := s.Swap(ctx, "refresh:9c01", []byte("used"))
		fmt.Println(string(old))
	}
	// Output:
	// unused
	// used
}
