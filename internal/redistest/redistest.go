// Package redistest runs a real redis-server for tests.
package redistest

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Password is the password the started servers require.
const Password = "redis-test-password"

// Start runs a redis-server on a free 127.0.0.1 port for the test, stopped
// when it ends, and returns its address. Without redis-server on PATH the
// test is skipped, unless REDIS_TESTS_REQUIRED is set (as .ci/run does),
// when it fails.
func Start(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("REDIS_TESTS_REQUIRED") != "" {
			tb.Fatal("redis-server is not on PATH and REDIS_TESTS_REQUIRED is set")
		}
		tb.Skip("redis-server is not on PATH (.ci/run installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--requirepass", Password)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redis-server did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URL starts a server (see Start) and returns its redis:// URL with the
// password, database 0.
func URL(tb testing.TB) string {
	return "redis://:" + Password + "@" + Start(tb) + "/0"
}
