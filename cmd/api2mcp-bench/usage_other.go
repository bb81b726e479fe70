//go:build !unix

package main

import "time"

// cpuTime is not measured on this system.
func cpuTime() (time.Duration, bool) { return 0, false }

// rss is not measured on this system.
func rss() (int64, bool) { return 0, false }

// processCPU is not measured on this system.
func processCPU(int) (time.Duration, bool) { return 0, false }

// processRSS is not measured on this system.
func processRSS(int) (int64, bool) { return 0, false }
