package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logWriter batches the log lines of serve and stdio. serve writes a line
// per tool call, and a write system call per line (to a pipe a container
// runtime reads) costs both processes more than the line is worth: at 1,000
// calls/s, 1,000 wake-ups of the reader instead of ten. A line reaches w
// within flushAfter, at once for warnings and errors (see flushHandler), and
// everything is written by Close.
type logWriter struct {
	w          io.Writer
	flushAfter time.Duration

	mu     sync.Mutex
	buf    []byte
	timer  *time.Timer // the pending flush, if any
	closed bool
}

// logBufferBytes is how much is kept before it is written anyway.
const logBufferBytes = 32 << 10

func newLogWriter(w io.Writer, flushAfter time.Duration) *logWriter {
	return &logWriter{w: w, flushAfter: flushAfter}
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.w.Write(p)
	}
	l.buf = append(l.buf, p...)
	if len(l.buf) >= logBufferBytes {
		return len(p), l.flushLocked()
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(l.flushAfter, func() { l.Flush() })
	}
	return len(p), nil
}

// Flush writes what is buffered.
func (l *logWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked()
}

func (l *logWriter) flushLocked() error {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if len(l.buf) == 0 {
		return nil
	}
	_, err := l.w.Write(l.buf)
	if cap(l.buf) > 4*logBufferBytes {
		l.buf = nil // a burst of huge lines: not kept for good
	} else {
		l.buf = l.buf[:0]
	}
	return err
}

// Close writes what is buffered; later lines are written as they come.
func (l *logWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return l.flushLocked()
}

// flushHandler writes warnings and errors out at once: they may be the
// last lines before a crash, and someone may be waiting for them.
type flushHandler struct {
	slog.Handler
	w *logWriter
}

func (h flushHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.w.Flush()
	}
	return err
}

func (h flushHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w}
}

func (h flushHandler) WithGroup(name string) slog.Handler {
	return flushHandler{Handler: h.Handler.WithGroup(name), w: h.w}
}
