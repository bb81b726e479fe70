package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLogWriterBatchesInfoAndFlushesWarnings(t *testing.T) {
	var out lockedBuffer
	lw := newLogWriter(&out, time.Hour)
	logger, err := newLogger(&out, "info", "text", lw)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("tool_call", "n", 1)
	logger.Info("tool_call", "n", 2)
	if got := out.String(); got != "" {
		t.Fatalf("info lines written before their time: %q", got)
	}
	logger.With("upstream", "api").Warn("upstream_down")
	got := out.String()
	if !strings.Contains(got, "n=1") || !strings.Contains(got, "n=2") || !strings.Contains(got, "msg=upstream_down upstream=api") ||
		strings.Index(got, "n=2") > strings.Index(got, "upstream_down") {
		t.Fatalf("a warning writes itself and what came before it, in order; got %q", got)
	}
	if out.writes != 1 {
		t.Errorf("%d writes for three lines, want 1", out.writes)
	}
	logger.Info("tool_call", "n", 3)
	lw.Close()
	if !strings.Contains(out.String(), "n=3") {
		t.Errorf("Close did not write the last line: %q", out.String())
	}
	logger.Info("tool_call", "n", 4) // after Close: written at once
	if !strings.Contains(out.String(), "n=4") {
		t.Errorf("a line after Close was not written: %q", out.String())
	}
}

func TestLogWriterWritesWithinFlushAfter(t *testing.T) {
	var out lockedBuffer
	lw := newLogWriter(&out, 10*time.Millisecond)
	defer lw.Close()
	logger := slog.New(slog.NewJSONHandler(lw, nil))
	logger.Info("listening", "addr", "127.0.0.1:8080")
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), `"listening"`); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a buffered line was not written within 10s")
		}
	}
	// A burst larger than the buffer is written without waiting.
	line := strings.Repeat("x", 1000)
	lw2 := newLogWriter(&out, time.Hour)
	defer lw2.Close()
	for range 40 {
		lw2.Write([]byte(line + "\n"))
	}
	if n := strings.Count(out.String(), line); n < 32 {
		t.Errorf("%d of 40 lines of 1000 bytes written with a %d-byte buffer", n, logBufferBytes)
	}
}
