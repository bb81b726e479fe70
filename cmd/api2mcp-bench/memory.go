package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// inUse is the memory the Go runtime holds for live objects and stacks, and
// the goroutines, after two collections.
type inUse struct {
	heap, stack uint64
	goroutines  int
}

func measure() inUse {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return inUse{heap: m.HeapAlloc, stack: m.StackInuse, goroutines: runtime.NumGoroutine()}
}

// per is the growth from a to b per item: bytes of heap and stack, and
// goroutines.
func per(a, b inUse, n int) (bytes float64, goroutines float64) {
	grown := int64(b.heap+b.stack) - int64(a.heap+a.stack)
	return float64(grown) / float64(n), float64(b.goroutines-a.goroutines) / float64(n)
}

// idleClients opens s.idle keep-alive connections to a stateless proxy,
// makes one tools/call (a cache hit) on each and leaves them open, then
// reports what each idle connection holds. The connections are raw TCP
// connections of this process, which hold no goroutine; their client side
// (a socket and its descriptor, a few hundred bytes) is in the figure.
// net/http holds one goroutine per open connection, blocked reading the
// next request, with its 4 KiB read and write buffers.
func idleClients(ctx context.Context, s settings, out io.Writer) error {
	up := &upstream{filler: strings.Repeat("x", s.bodyBytes-16)}
	upURL, stopUp, err := listen("upstream", up)
	if err != nil {
		return err
	}
	defer stopUp()
	front, stop, err := serveProxy(ctx, fmt.Sprintf(configTemplate, "", s.maxEntries, s.maxBytes, upURL))
	if err != nil {
		return err
	}
	defer stop()
	addr := strings.TrimPrefix(front, "http://")
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_item_cached","arguments":{"id":1}}}`
	request := fmt.Sprintf("POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"+
		"Mcp-Protocol-Version: 2025-06-18\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body)
	call := func(c net.Conn) error {
		if _, err := io.WriteString(c, request); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && (resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"structuredContent"`)) {
			err = fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
		}
		return err
	}
	// The first call fills the cache and opens the upstream connection;
	// its client connection is open during both measurements.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func() error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		return call(c)
	}
	if err := dial(); err != nil {
		return fmt.Errorf("idle clients: %w", err)
	}
	before := measure()
	for range s.idle {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := dial(); err != nil {
			return fmt.Errorf("idle clients: %w", err)
		}
	}
	b, g := per(before, measure(), s.idle)
	fmt.Fprintf(out, "idle stateless clients: %d keep-alive connections after one call each: %.1f KiB of heap and stacks and %.2f goroutines each (net/http's connection goroutine)\n",
		s.idle, b/1024, g)
	return nil
}

// sessionMemory opens s.sessions stateful sessions (initialize, then
// notifications/initialized) with s.clients concurrent clients, leaves them
// idle and reports what each holds; it stops early after a minute.
func sessionMemory(ctx context.Context, s settings, out io.Writer) error {
	up := &upstream{filler: strings.Repeat("x", s.bodyBytes-16)}
	upURL, stopUp, err := listen("upstream", up)
	if err != nil {
		return err
	}
	defer stopUp()
	front, stop, err := serveProxy(ctx, fmt.Sprintf(configTemplate, fmt.Sprintf(", stateful: true, max_sessions: %d", s.sessions), s.maxEntries, s.maxBytes, upURL))
	if err != nil {
		return err
	}
	defer stop()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: s.clients, Proxy: nil}}
	defer client.CloseIdleConnections()
	post := func(session, body string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, front+"/mcp", strings.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
			return "", fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
		}
		return resp.Header.Get("Mcp-Session-Id"), nil
	}
	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`
	const initialized = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	open := func() error {
		id, err := post("", initialize)
		if err != nil {
			return err
		}
		if id == "" {
			return fmt.Errorf("no Mcp-Session-Id")
		}
		_, err = post(id, initialized)
		return err
	}
	// One session first, so that what every session shares is made.
	if err := open(); err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	client.CloseIdleConnections()
	before := measure()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var opened, next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range s.clients {
		wg.Go(func() {
			for next.Add(1) < int64(s.sessions) && ctx.Err() == nil {
				if err := open(); err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					cancel()
					return
				}
				opened.Add(1)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	client.CloseIdleConnections() // the sessions stay; their connections go
	n := int(opened.Load())
	if n == 0 {
		return fmt.Errorf("sessions: none opened")
	}
	time.Sleep(100 * time.Millisecond) // closed connections' goroutines end
	b, g := per(before, measure(), n)
	fmt.Fprintf(out, "stateful sessions: %d opened in %s (%d in all): %.1f KiB of heap and stacks and %.2f goroutines each, %.1f MiB for all\n",
		n, took.Round(time.Millisecond), n+1, b/1024, g, b*float64(n+1)/(1<<20))
	return nil
}
