//go:build !unix

package main

import "time"

// cpuTime is not measured on this system.
func cpuTime() (time.Duration, bool) { return 0, false }

// rss is not measured on this system.
func rss() (int64, bool) { return 0, false }
