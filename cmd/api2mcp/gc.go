package main

import (
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultGCPercent is the GOGC that serve runs with when the environment
// sets none. The Go default (100) collects when the heap has doubled;
// api2mcp's live heap is small (about 10 MB without a cache) and its
// garbage is per call, so collecting at 3× trades a few MB of resident
// memory for less CPU per call: about 8–15% less for a proxied call in
// api2mcp-bench (README, Performance).
const defaultGCPercent = 200

// memoryLimitShare is the share of the container's memory limit (cgroup v2
// memory.max) that serve sets as the Go runtime's soft memory limit when
// GOMEMLIMIT is not set: near it the collector runs more often instead of
// the process being killed, whatever GOGC allows.
const memoryLimitShare = 0.9

// cgroupMemoryMax is where cgroup v2 publishes the memory limit ("max": none).
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// gcDefaults decides serve's collector settings: percent is the GOGC to set
// (-1: leave it, the environment set GOGC) and limit the soft memory limit
// in bytes (0: leave it, GOMEMLIMIT is set or no container limit is known).
func gcDefaults(getenv func(string) string, readFile func(string) ([]byte, error)) (percent int, limit int64) {
	percent = -1
	if getenv("GOGC") == "" {
		percent = defaultGCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		if b, err := readFile(cgroupMemoryMax); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
				limit = int64(float64(n) * memoryLimitShare)
			}
		}
	}
	return percent, limit
}

// tuneGC applies gcDefaults and logs what the collector runs with.
func tuneGC(logger *slog.Logger, getenv func(string) string, readFile func(string) ([]byte, error)) {
	percent, limit := gcDefaults(getenv, readFile)
	if percent >= 0 {
		debug.SetGCPercent(percent)
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	current := debug.SetGCPercent(-1)
	debug.SetGCPercent(current)
	logger.Info("gc_settings", "gc_percent", current, "memory_limit_bytes", debug.SetMemoryLimit(-1))
}
