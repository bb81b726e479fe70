package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/api2mcp/api2mcp/configs"
	"github.com/api2mcp/api2mcp/proxy"
)

// lockedBuffer is an io.Writer read while other goroutines write to it;
// writes counts the Write calls.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReloadLoop: editing the file reloads it; an invalid edit is rejected
// with its report in the log and the old tools keep serving; SIGHUP reloads.
func TestReloadLoop(t *testing.T) {
	cleanEnv(t)
	path := filepath.Join(t.TempDir(), "mcp.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const base = "upstreams: { api: { url: http://127.0.0.1:1 } }\ntools:\n  - { name: one, upstream: api, path: /one }\n"
	write(base)
	loaded := fileStamp(path)
	cfg, err := configs.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		reloadLoop(ctx, path, loaded, srv, slog.New(slog.NewTextHandler(logs, nil)), 20*time.Millisecond)
		close(done)
	}()
	defer func() { cancel(); <-done }()

	tools := func() string {
		out, err := srv.ListTools(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; log:\n%s", what, logs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	write(base + "  - { name: two, upstream: api, path: /two }\n")
	waitFor("the new tool", func() bool { return strings.Contains(tools(), `"name":"two"`) })

	write(base + "  - { name: three, upstream: nowhere, path: /three }\n")
	waitFor("the rejection", func() bool { return strings.Contains(logs.String(), "config_reload_rejected") })
	if !strings.Contains(logs.String(), `\"nowhere\" is not in upstreams`) || !strings.Contains(tools(), `"name":"two"`) {
		t.Errorf("after an invalid edit: tools %s\nlog:\n%s", tools(), logs)
	}

	// SIGHUP reloads even when the file looks unchanged (a ${file:} secret
	// may have rotated).
	write(base)
	waitFor("the fixed file", func() bool { return !strings.Contains(tools(), `"name":"two"`) })
	n := strings.Count(logs.String(), "config_reloaded")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the SIGHUP reload", func() bool { return strings.Count(logs.String(), "config_reloaded") > n })
	if !strings.Contains(logs.String(), "reason=SIGHUP") {
		t.Errorf("log:\n%s", logs)
	}
}
