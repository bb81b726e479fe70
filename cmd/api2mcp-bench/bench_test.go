package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestBenchRuns runs every scenario briefly and checks the report has each
// figure; the figures themselves are for people, not for assertions.
func TestBenchRuns(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-c", "2", "-d", "100ms", "-n", "200", "-latency", "0", "-distinct", "20", "-max-entries", "50", "-max-bytes", "1048576", "-idle", "20", "-sessions", "30"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		`(?m)^direct upstream +\d+ +\d+ `,
		`(?m)^POST floor +\d+ +\d+ `,
		`(?m)^against the POST floor: cache hits \d+\.\d+ of its calls/s, -?[0-9.]+(ns|µs|ms|s) CPU/call more; proxied \d+\.\d+ of its calls/s$`,
		`(?m)^relay floor +\d+ +\d+ `,
		`(?m)^against the relay floor \(a pass-through doing no work, the ceiling of two hops here: \d+\.\d+ of direct\): proxied \d+\.\d+ of its calls/s, -?[0-9.]+(ns|µs|ms|s) CPU/call more$`,
		`(?m)^the machine's own noise meanwhile: a goroutine sleeping 1ms woke late by p50 \S+, p99 \S+, max \S+ \(\d+ wake-ups\)$`,
		`(?m)^proxied +\d+ +\d+ `,
		`(?m)^proxied \+ JWT +\d+ +\d+ .* \d+(\.\d+)?(ns|µs|ms) +\d+\.\d +\d+\.\d+x +\d+\.\d+x$`,
		`(?m)^proxied, cache hits +\d+ +\d+ `,
		`(?m)^proxied, with repeats +\d+ +\d+ `,
		`(?m)^CPU/call is the CPU time \(user\+system\) of this whole process`,
		`(?m)^ratios: proxied/direct \d+\.\d+ .*, JWT/proxied \d+\.\d+ .*, cache hits/direct \d+\.\d+ .*, added p99 -?[0-9.]+(ns|µs|ms|s)? `,
		`(?m)^at a fixed 1000 calls/s each, interleaved, from 2 clients: direct p50 \S+ p99 \S+ \(\d+ calls\), proxied p50 \S+ p99 \S+ \(\d+ calls\): added p50 -?\S+, added p99 -?\S+ \(target ≤ 1ms\)$`,
		`repeats: \d+ tool calls over 20 distinct ids, \d+ upstream calls: hit ratio \d+\.\d%, \d+ upstream calls saved`,
		`cache at its bounds \(max_entries 50, max_bytes 1048576\): 55 calls made, 50 entries`,
		`(?m)^idle stateless clients: 20 keep-alive connections after one call each: -?\d+\.\d KiB of heap and stacks and -?\d+\.\d+ goroutines each`,
		`(?m)^stateful sessions: 29 opened in \S+ \(30 in all\): -?\d+\.\d KiB of heap and stacks and -?\d+\.\d+ goroutines each, -?\d+\.\d MiB for all$`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"-c", "0"}, {"-idle", "0"}, {"-sessions", "-1"}} {
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestBenchProfile: -cpuprofile writes a profile of the scenario -profile
// names, and an unknown name writes none.
func TestBenchProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	var out, errOut bytes.Buffer
	args := []string{"-c", "2", "-d", "100ms", "-n", "200", "-latency", "0", "-distinct", "20", "-max-entries", "50", "-max-bytes", "1048576", "-idle", "2", "-sessions", "0", "-rate", "0", "-cpuprofile", prof, "-profile", "relay floor"}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Fatalf("no profile written: %v", err)
	}
}

// TestProcessCPU reads another process's CPU time from /proc as the
// -binary measurement does: this process's, after some work, is more than
// nothing and no more than the process's own account of it.
func TestProcessCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
	}
	got, ok := processCPU(os.Getpid())
	own, _ := cpuTime()
	if !ok || got <= 0 || got > own+20*time.Millisecond {
		t.Errorf("processCPU = %s, %v; getrusage says %s", got, ok, own)
	}
	if m, ok := processRSS(os.Getpid()); !ok || m <= 0 {
		t.Errorf("processRSS = %d, %v", m, ok)
	}
}
